"""What the board shows, read from the serving warehouse (never the build file).

Everything here is a plain query over ``kpi_tree.*`` and ``main.*`` of ``kpi.duckdb``, so the
page shows exactly the published numbers: each node at its own team's newest published day,
for the day, month to date, quarter to date and year to date. A node the shop cannot compute
(``kpi_tree.kpi_availability``: a source it reads was never delivered) carries no number and
says what it needs; no target, pace or scorecard judges it.

Beside each period's numbers a node carries its comparisons (环比, the previous period to the
same point; 同比, the same dates a year before: :func:`comparison_windows`), and, for a total
with a target, what the rest of the period needs (the catch-up of ``kpi targets catch-up``,
``pipelines/targets/report.py``). Each section of the page is one function here returning
plain data; a new field is a new key, read by ``static/board.js`` where it is shown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from typing import Any

import duckdb

from kpi_tree.availability import is_available
from kpi_tree.formats import board_rules
from kpi_tree.model import Node, Tree
from kpi_tree.targets.pace import PaceError
from kpi_tree.vocabulary import LANGUAGES
from pipelines.links import report_href
from pipelines.queries import kpi_availability, records, table_exists
from pipelines.settings import Settings
from pipelines.targets.report import (
    ReportError,
    day_targets,
    driver_catch_up,
    overall_catch_up,
)

PERIODS = ("day", "month", "quarter", "year")
#: a scorecard counts each KPI's attainment up to this much (one KPI far ahead cannot hide
#: another far behind)
SCORE_CAP = 1.2
#: the daily trend shown for the "day" period: this many days up to the day
DAY_TREND_DAYS = 30
#: the periods a catch-up is worked out for (a day has no rest to catch up in)
CATCH_UP_PERIODS = ("month", "quarter", "year")
#: the comparisons each period is shown with: 环比 (the previous period to the same point) and
#: 同比 (the same dates a year before)
COMPARISONS = ("previous", "last_year")


class BoardError(RuntimeError):
    """The serving warehouse cannot be drawn (e.g. nothing published yet)."""


def period_start(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if period == "year":
        return dt.date(day.year, 1, 1)
    raise ValueError(f"unknown period {period!r}; one of {PERIODS}")


def _shift_year(day: dt.date, years: int) -> dt.date:
    """The same date ``years`` later (a 29 February without one: the 28th)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def comparison_windows(day: dt.date, period: str) -> dict[str, tuple[dt.date, dt.date] | None]:
    """The days each comparison of ``period`` to date on ``day`` is made against.

    ``previous`` (环比): the period before, to the same point (1–15 June against 1–15 May; the
    31st of a month against the whole of a shorter one; a day against the day before); none for
    a year, whose previous period is the same as ``last_year``. ``last_year`` (同比): the same
    dates a year before."""
    start = period_start(day, period)
    out: dict[str, tuple[dt.date, dt.date] | None] = {
        "last_year": (_shift_year(start, -1), _shift_year(day, -1))
    }
    if period == "day":
        out["previous"] = (day - dt.timedelta(days=1),) * 2
    elif period == "year":
        out["previous"] = None
    else:
        before = period_start(start - dt.timedelta(days=1), period)
        end = min(before + (day - start), start - dt.timedelta(days=1))
        out["previous"] = (before, end)
    return out


#: a provisional value without an expected one (fct_kpi_vs_target): not judged yet
NOT_JUDGED = "not_judged"


def status_of(attainment: float | None, settings: Settings) -> str | None:
    if attainment is None:
        return None
    if attainment >= settings.targets.on_track:
        return "on_track"
    if attainment >= settings.targets.at_risk:
        return "at_risk"
    return "short"


def attainment_of(actual: float | None, target: float | None, direction: str) -> float | None:
    """actual / target, inverted for lower-is-better KPIs (as the vs-target mart does)."""
    if actual is None or target is None:
        return None
    if direction == "lower":
        return target / actual if actual else None
    return actual / target if target else None


def value_of(node: Node, numerator: float | None, denominator: float | None) -> float | None:
    """A KPI's value from summed parts (sum and ratio nodes; quantiles do not add up)."""
    if node.kind == "sum":
        return numerator
    if node.kind == "ratio":
        if numerator is None or not denominator:
            return None
        return node.scale * numerator / denominator
    return None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def _publication(con: duckdb.DuckDBPyConnection) -> tuple[dict, dict, dt.date]:
    """Per unit: its newest log entry and its newest published day; the board's as-of day."""
    log = records(con, "select * from main.publication_log order by published_at, unit")
    latest: dict[str, dict] = {}
    published: dict[str, dt.date] = {}
    for entry in log:
        latest[entry["unit"]] = entry
        if entry["status"] == "published" and entry["data_as_of"] is not None:
            day = entry["data_as_of"]
            published[entry["unit"]] = max(published.get(entry["unit"], day), day)
    if not published:
        raise BoardError("nothing has been published yet: run `kpi run` or `kpi demo` first")
    return latest, published, max(published.values())


def collect(con: duckdb.DuckDBPyConnection, tree: Tree, settings: Settings) -> dict[str, Any]:
    """The board's whole content as plain data (JSON-ready)."""
    if not table_exists(con, "main", "publication_log"):
        raise BoardError("the serving warehouse has no publication log: nothing published yet")
    latest, published, as_of = _publication(con)
    has_values = table_exists(con, "kpi_tree", "kpi_values")
    has_pace = table_exists(con, "kpi_tree", "kpi_vs_target")
    has_targets = table_exists(con, "kpi_tree", "targets_in_force")
    availability = kpi_availability(con, "kpi_tree", "kpi_availability")

    # each node's own newest day (its team may be held back at an older publication); none
    # for a node the shop cannot compute, which has no number to show
    node_day: dict[str, dt.date] = {}
    if has_values:
        for kpi, day in con.execute(
            "select kpi_id, max(period_start) from kpi_tree.kpi_values "
            "where grain = 'day' and dimension = 'total' group by kpi_id"
        ).fetchall():
            if is_available(availability, kpi):
                node_day[kpi] = day
    year_start = dt.date(as_of.year, 1, 1)

    daily = _daily(con, has_values, has_targets, year_start)
    months = _month_totals(con, has_values, year_start)
    pace = _pace(con, has_pace, node_day)
    breakdown = _breakdowns(con, tree, has_values, node_day)
    unit_targets = _unit_targets(con, has_pace, has_targets, node_day, tree)
    compared = _comparisons(con, tree, has_values, node_day)
    # what a period still needs is read from the targets in force, which the tree's unit
    # publishes: held back, the teams' pace is shown without it
    catch_ups = _catch_ups(con, tree, pace if has_targets else {}, node_day)

    def held_back(team: str) -> bool:
        entry = latest.get(tree.teams[team]["mart"])
        return entry is not None and entry["status"] == "held_back"

    nodes: list[dict[str, Any]] = []
    for depth, node in tree.depth_first():
        day = node_day.get(node.id)
        cannot = availability.get(node.id)
        available = cannot is None or cannot.available
        periods: dict[str, Any] = {}
        for period in PERIODS:
            periods[period] = _period_value(node, period, day, daily, pace, settings)
            if node.kind == "quantile" and period == "month" and day is not None:
                # percentiles do not add up over days: the published month row
                periods[period]["actual"] = months.get((node.id, day.replace(day=1)))
            periods[period]["compare"] = compared.get((node.id, period), {})
            periods[period]["catch_up"] = catch_ups.get((node.id, period))
        nodes.append(
            {
                "id": node.id,
                "en": node.en,
                "zh": node.zh,
                "unit": node.unit,
                "team": node.team,
                "direction": node.direction,
                "kind": node.kind,
                "scale": node.scale,
                "parent": node.parent,
                "relation": node.relation,
                "depth": depth,
                # a rate's parts, named, for the volumes beside it: {"numerator": {id, en, zh}}
                "parts": _parts(tree, node),
                "dimensions": list(node.dimensions),
                "as_of": _iso(day),
                "available": available,
                # what the shop must deliver to compute it: {"en": "needs sessions", "zh": …}
                "needs": None
                if available
                else {"en": cannot.reason("en"), "zh": cannot.reason("zh")},
                "held_back": held_back(node.team),
                "stale": held_back(node.team) or (day is not None and day < as_of),
                "periods": periods,
                "daily": [
                    [
                        _iso(d["day"]),
                        d["value"],
                        d["numerator"],
                        d["denominator"],
                        d["is_provisional"],
                        d["target"],
                    ]
                    for d in (daily.get(node.id, []) if available else [])
                ],
                "cumulative": {
                    grain: [[_iso(r["as_of_day"]), r["actual"], r["paced_target"]] for r in rows]
                    for grain, rows in pace.get(node.id, {}).get("series", {}).items()
                },
                "breakdown": breakdown.get(node.id, {}),
            }
        )

    alerts = _alerts(con, unit_targets, settings)
    teams = _teams(tree, nodes, latest, published, settings)
    return {
        "as_of": as_of.isoformat(),
        # when the page was drawn, in business time (the zone the days are in)
        "generated_at": dt.datetime.now(settings.tz).strftime("%Y-%m-%d %H:%M"),
        "timezone": settings.business_timezone,
        "thresholds": {"on_track": settings.targets.on_track, "at_risk": settings.targets.at_risk},
        "score_cap": SCORE_CAP,
        # the number formats of each of the board's languages, the one it opens in, and the
        # members' labels (channels, carriers, payment methods, topics) in both
        "formats": board_rules(settings.currency),
        "lang": settings.formats.lang,
        "labels": settings.vocabulary.labels(),
        # the sources' names in both (a day a source is missing names it)
        "source_labels": {
            source: {lang: str(names.get(lang) or names.get("en") or source) for lang in LANGUAGES}
            for source, names in tree.sources.items()
        },
        # the cards at the top: the root and its first identity child (net revenue, GMV)
        "headline": _headline(tree),
        "teams": teams,
        "nodes": nodes,
        "units": unit_targets,
        "people": _people(tree, nodes, settings),
        "alerts": alerts,
        "problems": _problems(nodes, alerts),
        "plan": _plan(con),
    }


def _headline(tree: Tree) -> list[str]:
    """The KPIs of the headline cards: the root, and the first child of its identity."""
    root = tree.root
    kids = [k.id for p, _, ks in tree.identities() if p.id == root.id for k in ks]
    return [root.id, *kids[:1]]


def _parts(tree: Tree, node: Node) -> dict[str, Any] | None:
    if node.kind != "ratio":
        return None
    out = {}
    for role, measure in (("numerator", node.numerator), ("denominator", node.denominator)):
        m = tree.measures[measure]
        out[role] = {"id": m.id, "en": m.en, "zh": m.zh, "unit": measure_unit(tree, m.id)}
    return out


#: a measure read from an amount column (amount, order_amount, refund_amount) is money
_AMOUNT = re.compile(r"\b\w*amount\b")


def measure_unit(tree: Tree, measure: str) -> str:
    """The unit a measure's volume is written in. The tree gives measures no unit of their
    own: a node that sums the measure gives its unit; the numerator of a duration (seconds of
    first response) is in that duration; a measure read from an amount column is money; any
    other is a count (orders, sessions, inquiries)."""
    for node in tree.nodes.values():
        if node.kind == "sum" and node.numerator == measure:
            return node.unit
    for node in tree.nodes.values():
        if node.numerator == measure and node.unit in ("seconds", "minutes", "days"):
            return node.unit
    expr = tree.measures[measure].expr or ""
    return "money" if _AMOUNT.search(expr) else "count"


def _comparisons(con, tree: Tree, has_values: bool, node_day) -> dict[tuple[str, str], dict]:
    """Per (KPI, period): the period to date, and each comparison's window, value and change
    (current / compared - 1). Values from the published day rows, Σ numerator / Σ denominator
    as the period's own; a window with a day missing has no value (unknown, not a smaller one),
    nor has a percentile (it does not add up over days)."""
    if not has_values or not node_day:
        return {}
    windows: list[tuple[str, str, str, dt.date, dt.date]] = []
    for kpi, day in node_day.items():
        node = tree.nodes.get(kpi)
        if node is None or node.kind == "quantile":
            continue
        for period in PERIODS:
            windows.append((kpi, period, "current", period_start(day, period), day))
            for which, window in comparison_windows(day, period).items():
                if window is not None:
                    windows.append((kpi, period, which, *window))
    if not windows:
        return {}
    values = ", ".join(
        f"('{k}', '{p}', '{w}', DATE '{s.isoformat()}', DATE '{e.isoformat()}')"
        for k, p, w, s, e in windows
    )
    sums = {
        (r["kpi_id"], r["period"], r["which"]): r
        for r in records(
            con,
            f"with w(kpi_id, period, which, s, e) as (values {values}) "
            "select w.kpi_id, w.period, w.which, w.s, w.e, count(v.numerator) as days, "
            "sum(v.numerator) as numerator, sum(v.denominator) as denominator from w "
            "left join kpi_tree.kpi_values v on v.kpi_id = w.kpi_id and v.grain = 'day' "
            "and v.dimension = 'total' and v.period_start between w.s and w.e "
            "group by all",
        )
    }

    def value(key) -> tuple[float | None, dict]:
        r = sums[key]
        complete = r["days"] == (r["e"] - r["s"]).days + 1
        node = tree.nodes[key[0]]
        return (value_of(node, r["numerator"], r["denominator"]) if complete else None), r

    out: dict[tuple[str, str], dict] = {}
    for kpi, period, which, _, _ in windows:
        if which == "current":
            continue
        current, _ = value((kpi, period, "current"))
        compared, r = value((kpi, period, which))
        change = current / compared - 1 if current is not None and compared else None
        out.setdefault((kpi, period), {})[which] = {
            "start": _iso(r["s"]),
            "end": _iso(r["e"]),
            "value": compared,
            "change": change,
        }
    return out


def _catch_ups(con, tree: Tree, pace: dict[str, dict], node_day) -> dict[tuple[str, str], dict]:
    """Per (KPI, period): what the rest of the period needs, as ``kpi targets catch-up`` says
    it. A total with a target: the remaining days' needs, split by the target's own day
    weights (exact: actual + the days == the target). The parent of an identity: if one child
    stays at its run rate, what the others must reach (一个达不成, 另一个必须补上).
    ``pace``: :func:`_pace`'s rows; a KPI and period without one has nothing to catch up
    (both answers start from that row)."""
    out: dict[tuple[str, str], dict] = {}
    for kpi, day in node_day.items():
        node = tree.nodes.get(kpi)
        if node is None or node.kind != "sum":
            continue
        for period in CATCH_UP_PERIODS:
            if pace.get(kpi, {}).get("now", {}).get(period) is None:
                continue  # no target for it: a shop without a plan has none at all
            entry: dict[str, Any] = {}
            try:
                overall = overall_catch_up(con, day, period, kpi)
            except (ReportError, PaceError):
                overall = None  # no pace for it, or no day left to catch up in
            if overall is not None:
                c = overall.result
                days = list(c.days)
                planned = day_targets(con, kpi, "all", days[0], days[-1]) if days else {}
                entry.update(
                    needed=c.needed / 100,
                    planned=c.planned_remaining / 100,
                    factor=c.factor if c.needed > 0 else None,
                    days_left=len(days),
                    per_day=c.needed / 100 / len(days) if days and c.needed > 0 else None,
                    days=[[_iso(d), c.days[d] / 100, planned.get(d)] for d in days],
                )
            try:
                scenarios = driver_catch_up(con, tree, day, period, kpi)
            except (ReportError, PaceError):
                scenarios = []  # no identity under it, or a child without pace
            if scenarios:
                entry["drivers"] = [
                    {"held": s.held, "required": s.required, "factor": s.factor} for s in scenarios
                ]
            if entry:
                out[(kpi, period)] = entry
    return out


def _daily(con, has_values: bool, has_targets: bool, since: dt.date) -> dict[str, list[dict]]:
    if not has_values:
        return {}
    target_join = (
        "left join (select kpi_id, period_start, target from kpi_tree.targets_in_force "
        "where grain = 'day' and scope = 'all') t using (kpi_id, period_start)"
        if has_targets
        else "left join (select null::varchar kpi_id, null::date period_start, "
        "null::double target) t using (kpi_id, period_start)"
    )
    out: dict[str, list[dict]] = defaultdict(list)
    for row in records(
        con,
        "select v.kpi_id, v.period_start as day, v.value, v.numerator, v.denominator, "
        "v.is_provisional, v.missing_days, v.gap_sources, v.expected_value, "
        "v.expected_numerator, v.expected_denominator, t.target from kpi_tree.kpi_values v "
        f"{target_join} where v.grain = 'day' and v.dimension = 'total' "
        "and v.period_start >= ? order by v.kpi_id, v.period_start",
        [since],
    ):
        out[row["kpi_id"]].append(row)
    return out


def _month_totals(con, has_values: bool, since: dt.date) -> dict[tuple[str, dt.date], float]:
    if not has_values:
        return {}
    return {
        (kpi, start): value
        for kpi, start, value in con.execute(
            "select kpi_id, period_start, value from kpi_tree.kpi_values "
            "where grain = 'month' and dimension = 'total' and period_start >= ?",
            [since],
        ).fetchall()
    }


def _pace(con, has_pace: bool, node_day: dict[str, dt.date]) -> dict[str, dict]:
    """Per KPI (scope all): the vs-target row of each grain at the KPI's day, and each grain's
    period-to-date series over its current period."""
    if not has_pace:
        return {}
    out: dict[str, dict] = defaultdict(lambda: {"now": {}, "series": defaultdict(list)})
    for row in records(
        con,
        "select * from kpi_tree.kpi_vs_target where scope = 'all' "
        "order by kpi_id, period_grain, as_of_day",
    ):
        day = node_day.get(row["kpi_id"])
        if day is None or row["as_of_day"] > day:
            continue
        if not (row["period_start"] <= day <= row["period_end"]):
            continue
        entry = out[row["kpi_id"]]
        entry["series"][row["period_grain"]].append(row)
        if row["as_of_day"] == day:
            entry["now"][row["period_grain"]] = row
    return out


def _period_value(node: Node, period: str, day, daily, pace, settings) -> dict[str, Any]:
    """The node's numbers for one period ending at its day."""
    empty = {"actual": None, "start": None, "end": None}
    if day is None:
        return empty
    start = period_start(day, period)
    if period != "day":
        row = pace.get(node.id, {}).get("now", {}).get(period)
        if row is not None:
            return {
                "start": _iso(row["period_start"]),
                "end": _iso(row["period_end"]),
                "actual": row["actual"],
                "target": row["target"],
                "paced_target": row["paced_target"],
                "attainment": row["attainment"],
                "gap": row["gap"],
                "gap_pct": row["gap_pct"],
                "projected": row["projected"],
                "projected_attainment": row["projected_attainment"],
                "status": row["status"],
                "days_left": row["days_left"],
                "provisional": bool(row["is_provisional"]),
                # judged on the expected final value; what has arrived, beside it
                "observed": row.get("observed_actual") if row.get("is_expected") else None,
                "version": row["version_id"],
                # days to date a source of the KPI is missing: judged over the other days
                "missing_days": int(row.get("missing_days") or 0),
                "gap_sources": row.get("gap_sources"),
            }
    days = [d for d in daily.get(node.id, []) if start <= d["day"] <= day]
    if not days:
        return {**empty, "start": start.isoformat(), "end": day.isoformat()}
    provisional = any(d["is_provisional"] for d in days)
    # the days a source of the KPI is missing (unknown, null): the period is over the others
    gaps = [d for d in days if d.get("missing_days")]
    missing = {
        "missing_days": len(gaps),
        "gap_sources": ",".join(
            sorted({s for d in gaps for s in (d["gap_sources"] or "").split(",") if s})
        )
        or None,
    }
    # a provisional day is judged on its expected final value; the observed stays beside it
    expected = [d for d in days if d["is_provisional"] and d.get("expected_value") is not None]
    observed = None
    if period == "day":
        actual = days[-1]["value"]
        if days[-1] in expected:
            actual, observed = days[-1]["expected_value"], actual
        target = days[-1]["target"]
        attainment = attainment_of(actual, target, node.direction)
        status = status_of(attainment, settings)
        if status and days[-1]["is_provisional"] and days[-1] not in expected:
            status = NOT_JUDGED  # only what has arrived so far: not judged (as the pace mart)
        return {
            "start": start.isoformat(),
            "end": day.isoformat(),
            "actual": actual,
            "target": target,
            "paced_target": target,
            "attainment": attainment,
            "status": status,
            "provisional": provisional,
            **missing,
            "observed": observed,
        }
    # no target for this KPI: the period's value from its days (sums and ratios add up)
    num = sum(d["numerator"] or 0 for d in days)
    den = sum(d["denominator"] or 0 for d in days)
    if expected:
        observed = value_of(node, num, den)
        num = sum((d["expected_numerator"] if d in expected else d["numerator"]) or 0 for d in days)
        den = sum(
            (d["expected_denominator"] if d in expected else d["denominator"]) or 0 for d in days
        )
    return {
        "start": start.isoformat(),
        "end": day.isoformat(),
        "actual": value_of(node, num, den),
        "provisional": provisional,
        **missing,
        "observed": observed,
    }


def _breakdowns(con, tree: Tree, has_values: bool, node_day) -> dict[str, dict]:
    """Per KPI, period and dimension: each member's [member, value, numerator, denominator,
    observed] (day and month rows as published; quarters and years summed from the months, so
    quantiles have none there), largest first. The parts are the volumes behind a rate (the
    orders and sessions of a conversion rate). A provisional member with an expected final
    value is judged on it, as the total is: value and parts are the expected ones and observed
    what has arrived so far (None where the value is observed: mature, or no expected value,
    as a carrier's slice)."""
    if not has_values or not node_day:
        return {}
    days = ", ".join(f"('{k}', DATE '{d.isoformat()}')" for k, d in node_day.items())
    rows = records(
        con,
        f"with node_day(kpi_id, d) as (values {days}) "
        "select v.kpi_id, v.grain, v.period_start, v.dimension, v.member, v.numerator, "
        "v.denominator, v.value, v.is_provisional, v.expected_value, v.expected_numerator, "
        "v.expected_denominator, nd.d from kpi_tree.kpi_values v join node_day nd using (kpi_id) "
        "where v.dimension <> 'total' and v.period_start <= nd.d and ("
        "(v.grain = 'day' and v.period_start = nd.d) or "
        "(v.grain = 'month' and v.period_start >= date_trunc('year', nd.d)))",
    )
    acc: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    for r in rows:
        node = tree.nodes.get(r["kpi_id"])
        if node is None:
            continue
        day = r["d"]
        per = acc[r["kpi_id"]]
        expected = bool(r["is_provisional"]) and r["expected_value"] is not None
        observed = [r["numerator"], r["denominator"]]
        judged = [r["expected_numerator"], r["expected_denominator"]] if expected else observed
        value = r["expected_value"] if expected else r["value"]
        # [value, numerator, denominator, observed value, observed parts, any expected]
        parts = [value, *judged, r["value"] if expected else None, observed, expected]
        if r["grain"] == "day":
            per["day"][r["dimension"]][r["member"]] = parts
            continue
        if r["period_start"] == day.replace(day=1):
            per["month"][r["dimension"]][r["member"]] = parts
        for period in ("quarter", "year"):
            if r["period_start"] >= period_start(day, period):
                cell = per[period][r["dimension"]].setdefault(
                    r["member"], [None, None, None, None, [None, None], False]
                )
                for i in (0, 1):
                    if judged[i] is not None:
                        cell[1 + i] = (cell[1 + i] or 0) + judged[i]
                    if observed[i] is not None:
                        cell[4][i] = (cell[4][i] or 0) + observed[i]
                cell[5] = cell[5] or expected
    out: dict[str, dict] = {}
    for kpi, per in acc.items():
        node = tree.nodes[kpi]
        out[kpi] = {}
        for period, dims in per.items():
            out[kpi][period] = {}
            for dim, members in dims.items():
                items = []
                for member, (value, num, den, observed, parts, expected) in members.items():
                    if period in ("quarter", "year"):
                        value = value_of(node, num, den)
                        observed = value_of(node, *parts) if expected else None
                    if node.kind != "ratio":
                        num = den = None  # a total's parts are itself; a quantile has none
                    items.append([member, value, num, den, observed])
                if all(item[1] is None for item in items):
                    continue
                items.sort(key=lambda item: (item[1] is None, -(item[1] or 0)))
                out[kpi][period][dim] = items
    return out


def _unit_targets(con, has_pace, has_targets, node_day, tree) -> list[dict]:
    """Every allocation unit (region, channel, person) of the plan in force: its target for
    each period, paced; the actual where the unit is a dimension member."""
    if not has_targets:
        return []
    out: list[dict] = []
    paced_scopes: set[tuple[str, str]] = set()
    if has_pace:
        for r in records(
            con,
            "select * from kpi_tree.kpi_vs_target where scope <> 'all' "
            "order by kpi_id, scope, period_grain",
        ):
            if node_day.get(r["kpi_id"]) != r["as_of_day"]:
                continue
            paced_scopes.add((r["kpi_id"], r["scope"]))
            out.append(
                {
                    "kpi": r["kpi_id"],
                    "scope": r["scope"],
                    "dimension": r["dimension"],
                    "member": r["member"],
                    "period": r["period_grain"],
                    "target": r["target"],
                    "paced_target": r["paced_target"],
                    "actual": r["actual"],
                    "attainment": r["attainment"],
                    "status": r["status"],
                }
            )
    # targets only (no dimension to take actuals from): paced by their own day targets
    day_targets: dict = defaultdict(list)
    for r in records(
        con,
        "select kpi_id, scope, period_start, target from kpi_tree.targets_in_force "
        "where scope <> 'all' and grain = 'day' order by kpi_id, scope, period_start",
    ):
        if (r["kpi_id"], r["scope"]) not in paced_scopes:
            day_targets[(r["kpi_id"], r["scope"])].append(r)
    for (kpi, scope), rows in sorted(day_targets.items()):
        day = node_day.get(kpi)
        if day is None or kpi not in tree.nodes:
            continue
        for period in ("month", "quarter", "year"):
            start = period_start(day, period)
            end = _period_end(start, period)
            in_period = [r["target"] for r in rows if start <= r["period_start"] <= end]
            if not in_period:
                continue
            out.append(
                {
                    "kpi": kpi,
                    "scope": scope,
                    "dimension": None,
                    "member": None,
                    "period": period,
                    "target": sum(in_period),
                    "paced_target": sum(
                        r["target"] for r in rows if start <= r["period_start"] <= day
                    ),
                    "actual": None,
                    "attainment": None,
                    "status": None,
                }
            )
    return out


def _period_end(start: dt.date, period: str) -> dt.date:
    months = {"month": 1, "quarter": 3, "year": 12}[period]
    month = start.month - 1 + months
    return dt.date(start.year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def _teams(tree: Tree, nodes: list[dict], latest, published, settings) -> list[dict]:
    by_id = {n["id"]: n for n in nodes}
    out = []
    for tid, team in tree.teams.items():
        unit = team["mart"]
        entry = latest.get(unit)
        weights = dict(team.get("scorecard") or {})
        scores: dict[str, Any] = {}
        for period in PERIODS:
            rows = []
            for kpi, weight in weights.items():
                value = by_id[kpi]["periods"][period]
                rows.append(
                    {
                        "kpi": kpi,
                        "weight": weight,
                        "attainment": value.get("attainment"),
                        "status": value.get("status"),
                        # not computable: listed with what it needs, not scored
                        "needs": by_id[kpi]["needs"],
                    }
                )
            # a provisional KPI without an expected value is not judged, so not scored
            scored = [r for r in rows if r["attainment"] is not None and r["status"] != NOT_JUDGED]
            total = sum(r["weight"] for r in scored)
            score = (
                sum(r["weight"] * min(r["attainment"], SCORE_CAP) for r in scored) / total
                if total
                else None
            )
            scores[period] = {"score": score, "status": status_of(score, settings), "rows": rows}
        held = entry is not None and entry["status"] == "held_back"
        not_available = [n for n in nodes if n["team"] == tid and not n["available"]]
        out.append(
            {
                "id": tid,
                "en": team["en"],
                "zh": team["zh"],
                "unit": unit,
                "kpis": [n["id"] for n in nodes if n["team"] == tid],
                "people": team.get("people"),
                "status": entry["status"] if entry else "not_published",
                "held_back": held,
                # nothing of the team can be computed from the sources the shop delivers
                "skipped": entry is not None and entry["status"] == "skipped",
                "not_available": [n["id"] for n in not_available],
                "failed_checks": list(entry["failed_expectations"] or []) if held else [],
                "held_back_day": _iso(entry["data_as_of"]) if held else None,
                "published_as_of": _iso(published.get(unit)),
                "provisional_days": entry["provisional_days"] if entry else None,
                # the newest validation report of its gate, as a link from the board's page
                "report": report_href(settings, entry.get("report"), settings.warehouse_dir)
                if entry
                else None,
                "scorecard": scores,
            }
        )
    return out


def _people(tree: Tree, nodes: list[dict], settings: Settings) -> list[dict]:
    """Each person (a member of a team's people dimension) on each of the team's rate KPIs
    that has a target: their value against the team's target for the period."""
    out = []
    for tid, team in tree.teams.items():
        dim = team.get("people")
        if not dim:
            continue
        for n in nodes:
            if n["team"] != tid or dim not in n["dimensions"] or n["kind"] == "sum":
                continue
            for period in PERIODS:
                now = n["periods"][period]
                target = now.get("target")
                if target is None:
                    continue
                for member, value, num, den, _observed in (
                    n["breakdown"].get(period, {}).get(dim, [])
                ):
                    attainment = attainment_of(value, target, n["direction"])
                    out.append(
                        {
                            "team": tid,
                            "dimension": dim,
                            "person": member,
                            "kpi": n["id"],
                            "period": period,
                            "actual": value,
                            # the volumes behind the rate (inquiries that ordered, inquiries)
                            "numerator": num,
                            "denominator": den,
                            "target": target,
                            "attainment": attainment,
                            "status": status_of(attainment, settings),
                        }
                    )
    return out


#: a Han character, and a Latin letter (what a text's language is told by)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def text_lang(text: str | None) -> str | None:
    """The language an alert's stored text is written in, when the alerts table does not say:
    Chinese when it has more Han characters than Latin letters (an English text may name a
    team's Chinese name, a Chinese one a KPI such as GMV)."""
    if not text:
        return None
    return "zh" if len(_HAN.findall(text)) > len(_LATIN.findall(text)) else "en"


def _alerts(con, units: list[dict], settings: Settings) -> dict[str, Any]:
    """The newest day's alerts: what each is about (kind, KPI, member, period, status,
    attainment, shortfall), which the page words in its own language, and the text the alerts
    step wrote, with the language it is in (shown when the page is in that language)."""
    if not table_exists(con, "main", "alerts"):
        return {"day": None, "items": []}
    day = con.execute("select max(day) from main.alerts").fetchall()[0][0]
    if day is None:
        return {"day": None, "items": []}
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'main' and table_name = 'alerts'"
        ).fetchall()
    }
    lang = next((c for c in ("lang", "locale") if c in columns), None)
    rows = records(
        con,
        "select team, kind, severity, kpi_id, scope, period_grain, period_start, status, "
        "attainment, shortfall, title, text, delivery_status, created_at"
        + (f", {lang} as lang" if lang else "")
        + " from main.alerts where day = ? order by "
        "case severity when 'critical' then 0 when 'warning' then 1 else 2 end, team, kpi_id",
        [day],
    )
    members = {u["scope"]: (u["dimension"], u["member"]) for u in units if u["dimension"]}
    items = []
    for r in rows:
        written = r.pop("lang", None)
        dimension, member = members.get(r["scope"] or "", (None, None))
        created = r["created_at"]
        items.append(
            {
                **r,
                "period_start": _iso(r["period_start"]),
                # the alerts step records UTC: shown in business time
                "created_at": created.replace(tzinfo=dt.UTC)
                .astimezone(settings.tz)
                .strftime("%Y-%m-%d %H:%M")
                if isinstance(created, dt.datetime)
                else None,
                "dimension": dimension,
                "member": member,
                "lang": (str(written)[:2].lower() if written else None)
                or text_lang(f"{r['title']} {r['text']}"),
            }
        )
    return {"day": day.isoformat(), "items": items}


def _problems(nodes: list[dict], alerts: dict[str, Any]) -> dict[str, list[dict]]:
    """Per period: every KPI short of its pace or at risk, whether or not it alerted today
    (an alert is raised once, when the status first worsens): the shortest first."""
    alerted = {a["kpi_id"] for a in alerts["items"] if a["kpi_id"]}
    out: dict[str, list[dict]] = {}
    for period in PERIODS:
        rows = []
        for n in nodes:
            v = n["periods"][period]
            if v.get("status") not in ("short", "at_risk"):
                continue
            rows.append(
                {
                    "kpi": n["id"],
                    "team": n["team"],
                    "status": v["status"],
                    "attainment": v.get("attainment"),
                    "actual": v.get("actual"),
                    "paced_target": v.get("paced_target"),
                    "provisional": bool(v.get("provisional")),
                    "alerted": n["id"] in alerted,
                }
            )
        rows.sort(key=lambda r: (r["status"] != "short", r["attainment"] or 0))
        out[period] = rows
    return out


def _plan(con) -> dict[str, Any] | None:
    if not table_exists(con, "kpi_tree", "plan_versions"):
        return None
    rows = records(
        con,
        "select version_id, plan_name, author, reason, created_at, effective_from "
        "from kpi_tree.plan_versions order by created_at desc limit 1",
    )
    return {k: _iso(v) for k, v in rows[0].items()} if rows else None
