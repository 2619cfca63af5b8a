"""Pace and catch-up as people read them, from the serving warehouse (published data only).

``pace_table`` is one day's rows of ``kpi_tree.kpi_vs_target`` for a period (month, quarter or
year to date): the KPIs the shop can compute; those it cannot (a source never delivered) have
no pace and are named with what they need. ``overall_catch_up`` splits what the rest of the
period needs over its days by the target's own day weights (``kpi_tree.targets_in_force``),
exactly: actual + the days == the target. ``driver_catch_up`` answers 一个达不成, 另一个必须补上
(docs/domain.md, seed 002): if one child of an identity stays at its run rate, what must the
others reach for the rest of the period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb

from kpi_tree.model import Tree
from kpi_tree.targets.pace import CatchUp, DriverCatchUp, PaceError, catch_up, catch_up_drivers
from kpi_tree.targets.split import to_cents
from pipelines.i18n import N_
from pipelines.queries import kpi_availability, records, table_exists

PERIODS = ("month", "quarter", "year")
PERIOD_LABELS = {
    "month": N_("Month to date"),
    "quarter": N_("Quarter to date"),
    "year": N_("Year to date"),
}


class ReportError(RuntimeError):
    """Nothing to report (no plan, no published pace, no such KPI)."""


@dataclass(frozen=True)
class PaceTable:
    as_of_day: dt.date
    period: str
    period_start: dt.date
    period_end: dt.date
    days_elapsed: int
    days_left: int
    data_as_of: dt.date
    versions: tuple[str, ...]
    rows: list[dict[str, Any]]
    #: the KPIs (of the team asked for) not paced because the shop cannot compute them: id -> why
    not_paced: dict[str, str] = field(default_factory=dict)


def latest_day(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    if not table_exists(con, "kpi_tree", "kpi_vs_target"):
        return None
    return con.execute("select max(as_of_day) from kpi_tree.kpi_vs_target").fetchall()[0][0]


def pace_table(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date | None = None,
    period: str = "month",
    team: str | None = None,
    scope: str | None = "all",
) -> PaceTable:
    if period not in PERIODS:
        raise ReportError(f"period must be one of {PERIODS}, got {period!r}")
    newest = latest_day(con)
    if newest is None:
        raise ReportError(
            "no pace published yet: plan targets (`kpi targets plan FILE`, or a plan file in "
            "<data>/targets/plans/) and run the nightly job"
        )
    as_of = as_of or newest
    rows = records(
        con,
        """
        select p.*, n.name_en, n.name_zh, n.unit, n.tree_order
        from kpi_tree.kpi_vs_target as p
        inner join kpi_tree.kpi_nodes as n on p.kpi_id = n.kpi_id
        where p.as_of_day = ? and p.period_grain = ?
          and (? is null or p.team = ?) and (? is null or p.scope = ?)
        order by n.tree_order, p.scope
        """,
        [as_of, period, team, team, scope, scope],
    )
    if not rows:
        raise ReportError(
            f"no pace for {as_of} ({period}"
            + (f", team {team}" if team else "")
            + (f", scope {scope}" if scope else "")
            + f"); the published pace runs to {newest}"
        )
    first = rows[0]
    not_paced = {
        kpi: a.reason() or ""
        for kpi, a in kpi_availability(con, "kpi_tree", "kpi_availability").items()
        if not a.available and (team is None or team == _team_of(con, kpi))
    }
    return PaceTable(
        as_of_day=as_of,
        period=period,
        period_start=first["period_start"],
        period_end=first["period_end"],
        days_elapsed=int(first["days_elapsed"]),
        days_left=int(first["days_left"]),
        data_as_of=first["data_through"],
        versions=tuple(sorted({r["version_id"] for r in rows})),
        rows=rows,
        not_paced=not_paced,
    )


def _team_of(con: duckdb.DuckDBPyConnection, kpi: str) -> str | None:
    found = con.execute("select team from kpi_tree.kpi_nodes where kpi_id = ?", [kpi]).fetchall()
    return found[0][0] if found else None


def _pace_row(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, period: str, kpi: str, scope: str
) -> dict[str, Any]:
    rows = records(
        con,
        "select * from kpi_tree.kpi_vs_target "
        "where as_of_day = ? and period_grain = ? and kpi_id = ? and scope = ?",
        [as_of, period, kpi, scope],
    )
    if not rows:
        cannot = kpi_availability(con, "kpi_tree", "kpi_availability").get(kpi)
        if cannot is not None and not cannot.available:
            raise ReportError(f"{kpi} is not paced: not available, {cannot.reason()}")
        raise ReportError(f"no published pace for {kpi} ({scope}) on {as_of} ({period})")
    return rows[0]


def day_targets(
    con: duckdb.DuckDBPyConnection,
    kpi: str,
    scope: str,
    start: dt.date,
    end: dt.date,
    as_of: dt.date | None = None,
    version: str | None = None,
) -> dict[dt.date, float]:
    """The day targets over [start, end] as the plan stood on ``as_of``: up to it, those in
    force on each day; after it, those of ``version`` (the one in force on ``as_of``), so that
    a version made later changes nothing seen on ``as_of`` (docs/architecture.md, invariant
    11). Without ``as_of``, the targets in force today."""
    if not table_exists(con, "kpi_tree", "targets_in_force"):
        raise ReportError(
            "no targets in force are published: the KPI tree's unit has not been published "
            "yet (`kpi status` says why)"
        )
    days = dict(
        con.execute(
            "select period_start, target from kpi_tree.targets_in_force "
            "where grain = 'day' and kpi_id = ? and scope = ? and period_start between ? and ? "
            "and (? is null or period_start <= ?) order by period_start",
            [kpi, scope, start, end, as_of, as_of],
        ).fetchall()
    )
    if as_of is not None and version is not None:
        days.update(
            con.execute(
                "select period_start, value from kpi_tree.targets where grain = 'day' "
                "and version_id = ? and kpi_id = ? and scope = ? "
                "and period_start between ? and ? and period_start > ? order by period_start",
                [version, kpi, scope, start, end, as_of],
            ).fetchall()
        )
    return dict(sorted(days.items()))


@dataclass(frozen=True)
class OverallCatchUp:
    kpi: str
    scope: str
    row: dict[str, Any]
    result: CatchUp  # in hundredths (fen for money)


def overall_catch_up(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    period: str,
    kpi: str,
    scope: str = "all",
) -> OverallCatchUp:
    """What each remaining day of the period needs so that the KPI lands on its target.

    Exact in hundredths: the period's target is the sum of its day targets, and actual + the
    remaining days' needs == that sum (days a source is missing counted as on plan)."""
    row = _pace_row(con, as_of, period, kpi, scope)
    if row["needed_remaining"] is None:
        raise ReportError(f"{kpi} is a rate: its target holds every day, there is no total to fill")
    days = day_targets(
        con, kpi, scope, row["period_start"], row["period_end"], as_of, row["version_id"]
    )
    weights = {d: to_cents(v) for d, v in days.items()}
    actual = to_cents(row["actual"])
    if row.get("missing_days"):
        # the days a source is missing count as on plan (as needed_remaining does): their
        # targets stand in for the actual they lack
        actual += sum(w for d, w in weights.items() if d <= as_of) - to_cents(row["paced_target"])
    result = catch_up(sum(weights.values()), actual, weights, as_of)
    return OverallCatchUp(kpi, scope, row, result)


def identity_of(tree: Tree, parent: str) -> tuple[str, list[str]]:
    for p, relation, kids in tree.identities():
        if p.id == parent:
            return relation, [k.id for k in kids]
    parents = sorted(p.id for p, _, _ in tree.identities() if p.kind == "sum")
    raise ReportError(f"'{parent}' is not the parent of an identity; choose one of {parents}")


def driver_catch_up(
    con: duckdb.DuckDBPyConnection,
    tree: Tree,
    as_of: dt.date,
    period: str,
    parent: str,
    hold: list[str] | None = None,
    absorb: str | None = None,
) -> list[DriverCatchUp]:
    """If ``hold`` stay at their run rate for the rest of the period, what must the other
    children of ``parent`` reach? Without ``hold``: one answer per child held alone."""
    relation, kids = identity_of(tree, parent)
    rows = {k: _pace_row(con, as_of, period, k, "all") for k in [parent, *kids]}
    top = rows[parent]
    share = top["elapsed_share"]
    if share is None or not 0 < share < 1:
        raise ReportError(f"the {period} of {as_of} has no days left to catch up in")
    actual = {k: float(r["actual"]) for k, r in rows.items() if r["actual"] is not None}
    if top["needed_remaining"] is not None and parent in actual:
        # the parent's days a source is missing count as on plan (as needed_remaining does)
        actual[parent] = float(top["target"]) - float(top["needed_remaining"])
    planned, covered = {}, {}
    for k in kids:
        r = rows[k]
        if tree.nodes[k].kind != "sum":
            planned[k] = float(r["target"])
            continue
        # the version's plan for the days after as_of: a missing day to date is not in it
        planned[k] = float(r["planned_remaining"])
        # the share of the plan to date its days with data carry: the run rate is over them
        to_date = float(r["target"]) - float(r["planned_remaining"])
        if r.get("missing_days") and to_date > 0:
            covered[k] = float(r["paced_target"]) / to_date
    scenarios = [hold] if hold else [[k] for k in kids]
    out = []
    for held in scenarios:
        try:
            out.append(
                catch_up_drivers(
                    tree,
                    parent,
                    target=float(top["target"]),
                    actual=actual,
                    planned=planned,
                    elapsed_share=float(share),
                    hold=held,
                    absorb=absorb,
                    covered=covered,
                )
            )
        except PaceError as err:
            raise ReportError(f"catch-up for {parent} holding {held}: {err}") from err
    return out
