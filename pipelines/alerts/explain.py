"""An alert's explanation: the gap attributed down the tree, then to dimension members.

The numbers come from the serving warehouse (published only): the month-to-date rows of
``kpi_tree.kpi_vs_target`` for the node and its identity children (actual vs paced target),
decomposed exactly by ``kpi_tree.attribution`` (LMDI for products, plain sums for sums); for
the child that hurts most, its members (channel, campaign, agent, carrier) this period against
the four weeks before it, from ``kpi_tree.kpi_values``. The sentences are in the active language
(``pipelines.i18n``: the shop's ``locale``), amounts in the shop's currency and locale, a KPI
by its name and a member by its label in that language (``paid search``, or ``付费搜索``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb

from kpi_tree import attribution
from kpi_tree.formats import Formats, NumberFormat
from kpi_tree.model import Tree
from kpi_tree.vocabulary import Vocabulary
from pipelines.alerts.detect import BREAK, RECOVERED, Finding
from pipelines.alerts.words import (
    DIMENSION,
    PERIOD,
    STATUS,
    TO_DATE,
    days_without,
    joined,
    kpi_name,
    member_label,
    observed_text,
    scope_label,
    word,
)
from pipelines.i18n import _, lang
from pipelines.queries import kpi_availability, records

MEMBER_DIMENSIONS = ("channel", "carrier", "agent", "payment_method", "campaign", "topic")
BASELINE_DAYS = 28  # members are compared with the four weeks before the period
PACE_VALUES = ("actual", "paced_target", "projected", "target")


def _pace_rows(
    con: duckdb.DuckDBPyConnection, ids: list[str], day: dt.date, grain: str
) -> dict[str, dict[str, Any]]:
    rows = records(
        con,
        "select * from kpi_tree.kpi_vs_target where as_of_day = ? and period_grain = ? "
        f"and scope = 'all' and kpi_id in ({', '.join('?' for _ in ids)})",
        [day, grain, *ids],
    )
    return {r["kpi_id"]: r for r in rows}


def _member_parts(
    con: duckdb.DuckDBPyConnection, kpi: str, dimension: str, start: dt.date, end: dt.date
) -> dict[str, tuple[float, float]]:
    rows = con.execute(
        "select member, sum(numerator), sum(coalesce(denominator, 0)) from kpi_tree.kpi_values "
        "where grain = 'day' and kpi_id = ? and dimension = ? and period_start between ? and ? "
        "group by member",
        [kpi, dimension, start, end],
    ).fetchall()
    return {m: (float(n or 0), float(d or 0)) for m, n, d in rows}


def member_explanation(
    con: duckdb.DuckDBPyConnection, tree: Tree, kpi: str, start: dt.date, day: dt.date
) -> tuple[str, str] | None:
    """(dimension, member) that explains most of ``kpi``'s change against the four weeks before
    the period, or None when the KPI has no dimension or no history."""
    node = tree.nodes[kpi]
    dims = [d for d in MEMBER_DIMENSIONS if d in node.dimensions]
    if not dims or node.kind not in ("sum", "ratio"):
        return None
    dim = dims[0]
    # the baseline: the BASELINE_DAYS before the period, per day (the period so far is shorter)
    base_end = start - dt.timedelta(days=1)
    base_start = base_end - dt.timedelta(days=BASELINE_DAYS - 1)
    now = _member_parts(con, kpi, dim, start, day)
    before = _member_parts(con, kpi, dim, base_start, base_end)
    if not now or not before:
        return None
    if node.kind == "sum":
        scale = ((day - start).days + 1) / BASELINE_DAYS
        effects = attribution.member_effects_sum(
            {m: v[0] for m, v in now.items()}, {m: v[0] * scale for m, v in before.items()}
        )
    else:
        effects = attribution.member_effects_ratio(now, before)
    worst = attribution.largest_adverse(effects, node.direction)
    return (dim, worst) if worst is not None else None


def _number(value: object) -> float | None:
    """A value as the formatter takes it (the serving file may hold money as DECIMAL)."""
    return None if value is None else float(value)  # type: ignore[arg-type]


#: percentage points of a gap a driver accounts for
POINTS = NumberFormat("decimal", decimals=1)


def _points(formats: Formats, value: float) -> str:
    return _("{points} pt").format(points=formats.number(value, POINTS, signed=True))


def _decomposition_text(
    tree: Tree,
    decomposition: attribution.Decomposition,
    formats: Formats,
    period: str,
    member: str | None,
) -> str:
    """The gap against pace split over the node's drivers, in a sentence: "GMV month to date
    is 8.2% below pace: Sessions −1.1 pt, Conversion rate −6.9 pt; Conversion rate fell most
    in paid search." """
    d = decomposition
    node = tree.nodes[d.parent]
    share = d.gap / d.reference if d.reference else 0.0
    parts = joined(
        [f"{kpi_name(tree.nodes[k])} {_points(formats, v)}" for k, v in d.points().items()]
    )
    values = {"kpi": kpi_name(node), "period": period, "gap": formats.share(abs(share))}
    if share < 0:
        text = _("{kpi} {period} is {gap} below pace: {parts}").format(parts=parts, **values)
    else:
        text = _("{kpi} {period} is {gap} above pace: {parts}").format(parts=parts, **values)
    worst = attribution.largest_adverse(d.contributions, node.direction)
    if worst and member:
        child = kpi_name(tree.nodes[worst])
        if d.contributions[worst] < 0:
            text += _("; {kpi} fell most in {member}").format(kpi=child, member=member)
        else:
            text += _("; {kpi} rose most in {member}").format(kpi=child, member=member)
    return text + _(".")


def explain_finding(
    con: duckdb.DuckDBPyConnection,
    tree: Tree,
    f: Finding,
    formats: Formats,
    vocabulary: Vocabulary,
) -> tuple[str, str]:
    """(title, one or two plain sentences) for a finding, in the active language
    (pipelines.i18n), its numbers written by ``formats`` and its members by their labels."""
    format_value, format_share = formats.value, formats.share

    def label(member: tuple[str, str]) -> str:
        return member_label(vocabulary, member[0], member[1])

    node = tree.nodes[f.kpi]
    where = scope_label(vocabulary, dict(f.row))
    scope = _(" ({scope})").format(scope=where) if where else ""
    name = kpi_name(node) + scope
    period = word(TO_DATE, f.period_grain)
    if f.kind == BREAK:
        value, history = float(f.row["value"]), [float(v) for v in f.row["history"]]
        usual = sorted(history)[len(history) // 2]
        title = _("{kpi}: an unusual day on {day}").format(kpi=name, day=f.day)
        values = {"kpi": kpi_name(node), "day": f.day, "value": format_value(value, node.unit)}
        if usual:
            text = _(
                "{kpi} on {day} was {value}, far from its usual {usual} on the same weekday of "
                "the last {weeks} weeks ({change})."
            ).format(
                usual=format_value(usual, node.unit),
                weeks=len(history),
                change=format_share(value / usual - 1, signed=True),
                **values,
            )
        else:
            text = _("{kpi} on {day} was {value}, far from its recent range.").format(**values)
        return title, text
    if f.kind == RECOVERED:
        title = _("{kpi} is back on track").format(kpi=name)
        text = _("{kpi} {period} is back on track: {attainment} of its paced target.").format(
            kpi=name, period=period, attainment=format_share(f.attainment)
        )
        return title, text
    gap = format_share(f.shortfall or 0)
    title = _("{kpi} {period} {gap} behind pace ({status})").format(
        kpi=name, period=period, gap=gap, status=word(STATUS, f.status)
    )
    text = None
    note = ""
    kids = [k.id for p, _r, ks in tree.identities() if p.id == f.kpi for k in ks]
    if kids and f.scope == "all":
        rows = _pace_rows(con, [f.kpi, *kids], f.day, f.period_grain)
        if all(k in rows and rows[k]["actual"] is not None for k in [f.kpi, *kids]):
            actual = {k: float(r["actual"]) for k, r in rows.items()}
            reference = {k: float(r["paced_target"]) for k, r in rows.items()}
            try:
                decomposition = attribution.decompose(tree, f.kpi, actual, reference)
            except attribution.AttributionError:
                decomposition = None
            if decomposition is not None:
                worst = attribution.largest_adverse(decomposition.contributions, node.direction)
                member = (
                    member_explanation(con, tree, worst, f.period_start, f.day) if worst else None
                )
                text = _decomposition_text(
                    tree, decomposition, formats, period, label(member) if member else None
                )
        else:
            missing = [k for k in kids if k not in rows]
            # a driver the shop cannot compute has no pace, by design; others were held back
            availability = kpi_availability(con, "kpi_tree", "kpi_availability")
            cannot = [k for k in missing if k in availability and not availability[k].available]
            held = [k for k in missing if k not in cannot]
            parts = []
            if cannot:
                parts.append(
                    _("{kpis} cannot be computed from the sources the shop delivers").format(
                        kpis=joined(
                            [
                                f"{kpi_name(tree.nodes[k])} ({availability[k].reason(lang())})"
                                for k in cannot
                            ]
                        )
                    )
                )
            if held:
                parts.append(
                    _("{kpis} are not published for {day} (data held back)").format(
                        kpis=joined([kpi_name(tree.nodes[k]) for k in held]), day=f.day
                    )
                )
            if held:
                text = _("{kpi} {period} is {gap} below pace; of its drivers, {parts}.").format(
                    kpi=kpi_name(node), period=period, gap=gap, parts=_("; ").join(parts)
                )
            elif parts:  # explained below by its own numbers, without those drivers
                note = " " + _("Of its drivers, {parts}.").format(parts=parts[0])
    if text is None:
        v = {k: format_value(_number(f.row[k]), node.unit) for k in PACE_VALUES}
        text = _(
            "{kpi} {period} is {gap} behind pace: {actual} against a paced target of {paced}; "
            "at this run rate {period_name} ends at {projected} of {target}."
        ).format(
            kpi=name,
            period=period,
            gap=gap,
            actual=v["actual"],
            paced=v["paced_target"],
            projected=v["projected"],
            target=v["target"],
            period_name=word(PERIOD, f.period_grain),
        )
        if f.scope == "all":
            member = member_explanation(con, tree, f.kpi, f.period_start, f.day)
            if member is not None:
                text += " " + _(
                    "By {dimension}, {member} explains most of the change against the {days} "
                    "days before {period_name}."
                ).format(
                    dimension=word(DIMENSION, member[0]),
                    member=label(member),
                    days=BASELINE_DAYS,
                    period_name=word(PERIOD, f.period_grain),
                )
        text += note
    return title, text + expected_note(con, f, formats, node.unit) + incomplete_note(tree, f.row)


def expected_note(con: duckdb.DuckDBPyConnection, f: Finding, formats: Formats, unit: str) -> str:
    """The sentence a provisional KPI's alert carries: the figure judged is its expected final
    value, what has arrived so far beside it, and the basis of the expectation; or nothing."""
    r = f.row
    if not r.get("is_provisional") or not r.get("is_expected"):
        return ""
    basis = records(
        con,
        "select expected_basis_cohorts as cohorts, expected_basis_first_cohort as first, "
        "expected_basis_last_cohort as last from kpi_tree.kpi_values where grain = 'day' "
        "and kpi_id = ? and dimension = 'total' and period_start = ?",
        [f.kpi, f.day],
    )
    b = basis[0] if basis else {}
    observed = observed_text(formats, r.get("observed_actual"), unit)
    text = " " + _(
        "Outcomes are still arriving: the figures are the expected final values; observed so "
        "far: {observed}."
    ).format(observed=observed)
    if b.get("cohorts"):
        text += " " + _(
            "Expected from how the {n} mature days {first} to {last} completed."
        ).format(n=int(b["cohorts"]), first=b["first"], last=b["last"])
    return text


def incomplete_note(tree: Tree, row: Mapping[str, Any]) -> str:
    """The sentence an incomplete period's alert ends with (a source missing on some days),
    or nothing."""
    days = days_without(tree, row)
    if not days:
        return ""
    return " " + _("Incomplete: {days}; judged over the other days.").format(days=days)
