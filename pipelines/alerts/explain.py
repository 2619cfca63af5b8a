"""An alert's explanation: the gap attributed down the tree, then to dimension members.

The numbers come from the serving warehouse (published only): the month-to-date rows of
``kpi_tree.kpi_vs_target`` for the node and its identity children (actual vs paced target),
decomposed exactly by ``kpi_tree.attribution`` (LMDI for products, plain sums for sums); for
the child that hurts most, its members (channel, campaign, agent, carrier) this period against
the four weeks before it, from ``kpi_tree.kpi_values``. Amounts are written in the shop's
currency and locale, a member by its label in the locale's language (``paid search``, or
``付费搜索``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from kpi_tree import attribution
from kpi_tree.formats import Formats
from kpi_tree.model import Tree
from kpi_tree.vocabulary import Vocabulary
from pipelines.alerts.detect import BREAK, RECOVERED, Finding
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


def explain_finding(
    con: duckdb.DuckDBPyConnection,
    tree: Tree,
    f: Finding,
    formats: Formats,
    vocabulary: Vocabulary,
) -> tuple[str, str]:
    """(title, one or two plain sentences) for a finding, its numbers in ``formats`` and its
    members by their labels in ``formats``' language."""
    format_value, format_share = formats.value, formats.share

    def label(member: tuple[str, str]) -> str:
        return vocabulary.label(member[0], member[1], formats.lang)

    node = tree.nodes[f.kpi]
    scope = "" if f.scope == "all" else f" [{f.scope}]"
    name = f"{node.en} ({node.zh}){scope}"
    if f.kind == BREAK:
        value, history = f.row["value"], f.row["history"]
        usual = sorted(history)[len(history) // 2]
        title = f"{name}: an unusual day on {f.day}"
        was = f"{node.en} on {f.day} was {format_value(value, node.unit)}"
        text = (
            f"{was}, far from its usual {format_value(usual, node.unit)} on the same weekday of "
            f"the last {len(history)} weeks ({format_share(value / usual - 1, signed=True)})."
            if usual
            else f"{was}, far from its recent range."
        )
        return title, text
    if f.kind == RECOVERED:
        title = f"{name} is back on track"
        text = (
            f"{node.en}{scope} {f.period_grain}-to-date is back on track: "
            f"{format_share(f.attainment)} of its paced target."
        )
        return title, text
    what = "behind"
    gap = format_share(f.shortfall or 0)
    title = f"{name} {f.period_grain}-to-date {gap} {what} pace ({f.status})"
    text = None
    note = ""
    kids = [k.id for p, _, ks in tree.identities() if p.id == f.kpi for k in ks]
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
                text = attribution.explain(
                    tree,
                    decomposition,
                    member=label(member) if member else None,
                    period=f"{f.period_grain}-to-date",
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
                    ", ".join(f"{k} ({availability[k].reason()})" for k in cannot)
                    + " cannot be computed from the sources the shop delivers"
                )
            if held:
                parts.append(f"{', '.join(held)} are not published for {f.day} (data held back)")
            if held:
                text = (
                    f"{node.en} {f.period_grain}-to-date is {gap} below pace; of its drivers, "
                    f"{'; '.join(parts)}."
                )
            elif parts:  # explained below by its own numbers, without those drivers
                note = f" Its drivers {parts[0]}."
    if text is None:
        v = {k: format_value(f.row[k], node.unit) for k in PACE_VALUES}
        text = (
            f"{node.en}{scope} {f.period_grain}-to-date is {gap} {what} pace: {v['actual']} "
            f"against a paced target of {v['paced_target']}; at this run rate the "
            f"{f.period_grain} ends at {v['projected']} of {v['target']}."
        )
        if f.scope == "all":
            member = member_explanation(con, tree, f.kpi, f.period_start, f.day)
            if member is not None:
                text += (
                    f" By {member[0]}, {label(member)} explains most of the change against the "
                    f"{BASELINE_DAYS} days before the {f.period_grain}."
                )
        text += note
    return title, text
