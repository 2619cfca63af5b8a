"""The Great Expectations suites, one per publication unit, derived from the KPI tree.

The gates own what makes a unit fit to publish, the completeness of the raw data it reads
included (orphans are the gate's, with their counts, not a dbt warning); the model's own
invariants (the tree's identities, unique keys, measures that add up from their parts,
relationships between the tree's tables) are dbt's tests (``dbt_project/``), run by ``dbt
build`` before any gate, and are not checked again here.

A unit (:mod:`kpi_tree.units`) is a team (its mart and its slice of the KPI values) or
``kpi_tree`` (the shared tree tables and the targets). Each unit's data is read from the
build warehouse as small pandas frames, and each frame gets a suite:

* ``mart``: every ratio KPI within [0, 1] with numerator <= denominator (CTR: clicks <=
  impressions); every amount, count and time >= 0 (ranges).
* ``totals``: the same bounds for ratios across two facts (conversion: orders <= sessions),
  on the totals of every week and month; on a day, such a ratio must exist (both sources
  delivered) and stay within ``DAY_SPILL_TOLERANCE`` (the sources count midnight differently).
* ``days``: day-grain totals of the window: every expected day present, every KPI of the team
  present on every day, the newest day is the day just refreshed (completeness, freshness).
* ``newest``: the refreshed day's totals: one row, each additive KPI within a band of its
  trailing four weeks (volume).
* ``coverage``: every (KPI, dimension member) seen on nearly every day of the trailing four
  weeks is present on the refreshed day (presence of members); of the dimensions with a
  vocabulary (channel, carrier, ...), only the shop's configured members are expected (a
  member taken out of ``vocabulary:`` is not missing data).
  Volume and coverage skip KPIs built on late-maturing facts (shipment outcomes): the
  refreshed day's order cohort has barely shipped.
* ``incomplete``, ``orphans`` (every unit): the raw data the unit reads is complete: no
  delivery day far below its usual volume, no order lines or shipments without their order
  (:mod:`expectations.completeness`).
* ``nodes``, ``kpis_present`` (unit ``kpi_tree``): the published tree has every node of
  ``tree.yaml``, and every KPI has a value on the refreshed day.
* ``target_splits``, ``target_totals``, ``target_identities`` (unit ``kpi_tree``): every plan
  version's periods add up exactly from their days, its year to what the plan's months add up
  to, and its day targets satisfy the tree's identities (the targets are loaded by Python,
  not built by dbt, so no dbt test covers them).

The suites judge only the KPIs the shop can compute (``kpi_tree/availability.py``): a KPI
that reads a source the shop has never delivered is null by design, so none of its
expectations is set (no range, completeness, freshness, volume or members). A unit none of
whose KPIs can be computed gets no suite at all: its gate is *skipped*, which is neither a
pass to publish nor a failure to hold back. The gate records which KPIs were not available
and why, so that the publication says so.

Numbers the suites need (the window, trailing medians) are computed here from the build
warehouse, so a suite is always about the data the run just built.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from expectations import gx
from expectations.completeness import (
    PROBLEM,
    Band,
    incomplete_days,
    orphans,
    refused_files,
    unit_sources,
)
from kpi_tree.availability import Availability, unit_split
from kpi_tree.model import Tree
from kpi_tree.units import SHARED_UNIT, mart_table
from kpi_tree.vocabulary import DEFAULT_VOCABULARY, DIMENSION_LISTS, Vocabulary
from pipelines.queries import kpi_availability, table_exists

TRAILING_DAYS = 28
VOLUME_BAND = (0.25, 4.0)  # the refreshed day vs the trailing median
#: dimensions whose members are structural (a missing one means missing data); campaigns and
#: agents come and go, they are covered by the volume checks on the totals
COVERAGE_DIMENSIONS = ("channel", "payment_method", "customer_type", "carrier", "topic")
REGULAR_MEMBER_SHARE = 0.9  # a member seen on this share of the trailing days must be there
MIN_HISTORY_DAYS = 7
#: a day's ratio across two sources (paid sessions / ad clicks) may pass 1 by this much: the
#: sources count either side of midnight differently; weeks and months must stay within 1
DAY_SPILL_TOLERANCE = 1.2
#: the relative error allowed where targets must add up or satisfy an identity (as dbt's
#: identity test allows on the built numbers)
IDENTITY_TOLERANCE = 1e-9


@dataclass
class Gate:
    unit: str
    frames: dict[str, pd.DataFrame]
    expectations: dict[str, list] = field(default_factory=dict)
    #: the unit's KPIs the shop cannot compute (not judged), id -> why
    not_available: dict[str, Availability] = field(default_factory=dict)
    #: nothing of the unit can be computed: no suite, the unit is skipped
    skipped: bool = False


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def team_gate(
    con: duckdb.DuckDBPyConnection,
    tree: Tree,
    unit: str,
    start: dt.date,
    end: dt.date,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    availability: dict[str, Availability] | None = None,
    accepted: set[tuple[str, dt.date]] | None = None,
    volume_accepted: frozenset[str] = frozenset(),
) -> Gate:
    """``accepted``: the missing source days an operator accepted (expectations/gaps.py);
    ``volume_accepted``: the sources whose refreshed day the shop accepted as it is (kpi.yaml
    ``completeness.accept``): their KPIs' volume is not judged on it."""
    gxe = gx("great_expectations.expectations")

    owned, not_available = unit_split(tree, unit, availability or {})
    if not owned:
        return Gate(unit, {}, {}, not_available, skipped=True)
    table = mart_table(unit)
    mart = _frame(
        con,
        f"select * from {table} where period_end >= ? and period_start <= ?",
        [start, end],
    )
    gaps = source_gaps(con, [n.id for n in owned], end, accepted or set())
    days = mart[(mart.grain == "day") & (mart.dimension == "total")].reset_index(drop=True)
    # a day a source of the unit is missing is judged by the gaps frame (held back until
    # repaired or accepted), not as a KPI without a value
    gap_days = {pd.Timestamp(d) for d in gaps.date_day}
    known_days = days[~days.period_start.isin(gap_days)].reset_index(drop=True)
    newest = days[days.period_start == pd.Timestamp(end)].reset_index(drop=True)

    # periods longer than a day: a ratio across two sources is bounded there
    totals = mart[(mart.dimension == "total") & (mart.grain != "day")].reset_index(drop=True)
    checks: dict[str, list] = {
        "mart": [],
        "totals": [],
        "days": [],
        "known_days": [],
        "newest": [],
        "coverage": [],
        "gaps": [gxe.ExpectColumnValuesToBeNull(column="unaccepted")],
    }
    for node in owned:
        col = node.id
        if node.unit == "ratio":
            # a ratio of two measures of one fact (clicks / impressions) is bounded on every
            # row; one across facts (orders / sessions) only in the totals of weeks and
            # months: an order placed just after midnight can fall on a campaign-day without
            # sessions, and a day's paid sessions can exceed the ad platform's clicks a little
            one_fact = len(tree.node_facts(node)) == 1
            frame = "mart" if one_fact else "totals"
            if not one_fact:
                # a day's total has both sides (a day without sessions is missing data), and
                # spills over midnight only a little
                checks["known_days"].append(gxe.ExpectColumnValuesToNotBeNull(column=col))
                checks["known_days"].append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=col, min_value=0, max_value=DAY_SPILL_TOLERANCE
                    )
                )
            checks[frame].append(
                gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=1)
            )
            checks[frame].append(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=f"{col}__denominator",
                    column_B=f"{col}__numerator",
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                )
            )
        else:
            checks["mart"].append(gxe.ExpectColumnValuesToBeBetween(column=col, min_value=0))
        # every KPI of the team has a value on every day (ratios: their parts)
        present = f"{col}__denominator" if node.kind == "ratio" else col
        checks["known_days"].append(gxe.ExpectColumnValuesToNotBeNull(column=present))

    expected_days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    checks["days"].append(
        gxe.ExpectColumnDistinctValuesToContainSet(
            column="period_start", value_set=[pd.Timestamp(d) for d in expected_days]
        )
    )
    checks["days"].append(
        gxe.ExpectColumnMaxToBeBetween(
            column="period_start", min_value=pd.Timestamp(end), max_value=pd.Timestamp(end)
        )
    )

    # facts that mature late (shipment outcomes) are not judged on the refreshed day: its
    # order cohort has barely shipped
    settled = [n for n in owned if "shipments" not in tree.node_facts(n)]

    # volume: the refreshed day's additive KPIs against their trailing four weeks
    trailing = _frame(
        con,
        f"select * from {table} where grain = 'day' and dimension = 'total' "
        "and period_start between ? and ?",
        [end - dt.timedelta(days=TRAILING_DAYS), end - dt.timedelta(days=1)],
    )
    if len(trailing) >= MIN_HISTORY_DAYS:
        for node in settled:
            if node.kind != "sum" or node.unit not in ("count", "money"):
                continue
            if volume_accepted.intersection(tree.node_sources(node)):
                continue
            median = trailing[node.id].median()
            if pd.notna(median) and median > 0:
                checks["newest"].append(
                    gxe.ExpectColumnValuesToBeBetween(
                        column=node.id,
                        min_value=float(median * VOLUME_BAND[0]),
                        max_value=float(median * VOLUME_BAND[1]),
                    )
                )
    checks["newest"].append(gxe.ExpectTableRowCountToEqual(value=1))

    # completeness: every (KPI, dimension member) of the trailing four weeks is there today;
    # of a dimension with a vocabulary, only a member the shop still has
    ids = [n.id for n in settled] or [""]
    configured = [
        (dimension, member)
        for dimension, name in DIMENSION_LISTS.items()
        for member in vocabulary.members(name)
    ]
    members = _frame(
        con,
        f"""
        with configured(dimension, member) as (
            values {", ".join("(?, ?)" for _ in configured)}
        ),
        seen as (
            -- the members that are there nearly every day: a small campaign without an
            -- order on some days is normal, a channel or a carrier missing is not
            select kpi_id, dimension, member from kpi.fct_kpi_values
            where grain = 'day' and period_start between ? and ?
              and dimension in ({", ".join(f"'{d}'" for d in COVERAGE_DIMENSIONS)})
              and kpi_id in ({", ".join("?" for _ in ids)})
              and (dimension not in ({", ".join(f"'{d}'" for d in DIMENSION_LISTS)})
                   or (dimension, member) in (select (dimension, member) from configured))
            group by all
            having count(distinct period_start) >= {REGULAR_MEMBER_SHARE} * {TRAILING_DAYS}
        ),
        today as (
            select distinct kpi_id, dimension, member from kpi.fct_kpi_values
            where grain = 'day' and period_start = ?
        )
        select
            seen.kpi_id || ' by ' || seen.dimension || ' = ' || seen.member as expected,
            case when today.member is null then seen.kpi_id || ' by ' || seen.dimension
                 || ' = ' || seen.member end as missing
        from seen
        left join today using (kpi_id, dimension, member)
        """,
        [
            *(value for pair in configured for value in pair),
            end - dt.timedelta(days=TRAILING_DAYS),
            end - dt.timedelta(days=1),
            *ids,
            end,
        ],
    )
    checks["coverage"].append(gxe.ExpectColumnValuesToBeNull(column="missing"))
    frames = {
        "mart": mart,
        "totals": totals,
        "days": days,
        "known_days": known_days,
        "newest": newest,
        "coverage": members,
        "gaps": gaps,
    }
    return Gate(unit, frames, checks, not_available)


def source_gaps(
    con: duckdb.DuckDBPyConnection,
    kpis: list[str],
    end: dt.date,
    accepted: set[tuple[str, dt.date]],
) -> pd.DataFrame:
    """Every day up to ``end`` on which a source of ``kpis`` is missing (fct_source_gaps), not
    only the run's: a hole holds the unit back on every night until it is repaired or
    accepted. ``unaccepted`` names the ones still holding it back, and what to do."""
    columns = ["source", "date_day", "kpis", "unaccepted"]
    if not kpis or not table_exists(con, "kpi", "fct_source_gaps"):
        return pd.DataFrame(columns=columns)
    frame = _frame(
        con,
        f"""
        select source, date_day, string_agg(kpi_id, ', ' order by kpi_id) as kpis
        from kpi.fct_source_gaps
        where date_day <= ? and kpi_id in ({", ".join("?" for _ in kpis)})
        group by all
        order by date_day, source
        """,
        [end, *kpis],
    )
    frame["unaccepted"] = [
        None
        if (row.source, pd.Timestamp(row.date_day).date()) in accepted
        else (
            f"{row.source} missing on {pd.Timestamp(row.date_day).date()} ({row.kpis} unknown): "
            f"deliver the file and re-run the day, or `kpi gaps accept {row.source} "
            f"{pd.Timestamp(row.date_day).date()} --reason ...`"
        )
        for row in frame.itertuples()
    ]
    return frame[columns]


def identity_residuals(
    tree: Tree, long: pd.DataFrame, key: list[str], value: str = "value"
) -> pd.DataFrame:
    """Every product and sum identity of the tree on a long frame (key columns, kpi_id, value):
    one row per key and identity with the parent's relative residual."""
    rows = []
    for parent, relation, kids in tree.identities():
        ids = [parent.id] + [k.id for k in kids]
        frame = long[long.kpi_id.isin(ids) & long[value].notna()]
        if frame.empty:
            continue
        wide = frame.pivot_table(index=key, columns="kpi_id", values=value).dropna()
        if wide.empty or any(i not in wide.columns for i in ids):
            continue
        kids_value = wide[[k.id for k in kids]]
        combined = kids_value.prod(axis=1) if relation == "product" else kids_value.sum(axis=1)
        residual = (wide[parent.id] - combined) / wide[parent.id].abs().clip(lower=1.0)
        part = residual.rename("relative_residual").reset_index()
        part["identity"] = (
            f"{parent.id} = {(' x ' if relation == 'product' else ' + ').join(kids_value.columns)}"
        )
        rows.append(part)
    if not rows:
        return pd.DataFrame({"identity": [], "relative_residual": []})
    return pd.concat(rows, ignore_index=True)


def _has_targets(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, "targets", "targets") and table_exists(con, "targets", "plan_versions")


def target_frames(con: duckdb.DuckDBPyConnection, tree: Tree) -> dict[str, pd.DataFrame]:
    """The plan versions' targets, as checked by the shared suite: every period of an additive
    KPI adds up exactly from its days; the top KPI's year adds up to what the plan said the
    months add up to ((1 + buffer) x (annual - new business)); the day targets satisfy the
    tree's identities."""
    if not _has_targets(con):
        empty = pd.DataFrame({"relative_residual": []})
        return {"target_splits": empty, "target_totals": empty, "target_identities": empty}
    splits = _frame(
        con,
        """
        with t as (
            select t.*, n.formula_kind from targets.targets as t
            inner join kpi.dim_kpi_nodes as n on t.kpi_id = n.kpi_id
        ),
        days as (select * from t where grain = 'day' and formula_kind = 'sum')
        select p.version_id, p.kpi_id, p.scope, p.grain, p.period,
            (p.value - sum(days.value)) / greatest(abs(p.value), 1) as relative_residual
        from t as p
        inner join days
            on days.version_id = p.version_id and days.kpi_id = p.kpi_id
            and days.scope = p.scope
            and days.period_start between p.period_start and p.period_end
        where p.grain <> 'day' and p.formula_kind = 'sum'
        group by p.version_id, p.kpi_id, p.scope, p.grain, p.period, p.value
        """,
    )
    totals = _frame(
        con,
        """
        select v.version_id,
            (v.months_total - sum(t.value)) / greatest(abs(v.months_total), 1)
                as relative_residual
        from targets.plan_versions as v
        inner join targets.targets as t
            on t.version_id = v.version_id and t.kpi_id = v.top_kpi
            and t.scope = 'all' and t.grain = 'year'
        group by v.version_id, v.months_total
        """,
    )
    days = _frame(
        con,
        "select version_id, period_start, kpi_id, value from targets.targets "
        "where grain = 'day' and scope = 'all'",
    )
    identities = identity_residuals(tree, days, ["version_id", "period_start"])
    return {"target_splits": splits, "target_totals": totals, "target_identities": identities}


def shared_gate(
    con: duckdb.DuckDBPyConnection,
    tree: Tree,
    start: dt.date,
    end: dt.date,
    availability: dict[str, Availability] | None = None,
    accepted: set[tuple[str, dt.date]] | None = None,
) -> Gate:
    gxe = gx("great_expectations.expectations")

    computable, not_available = unit_split(tree, SHARED_UNIT, availability or {})
    if not computable:
        return Gate(SHARED_UNIT, {}, {}, not_available, skipped=True)
    nodes = _frame(con, "select kpi_id from kpi.dim_kpi_nodes")
    # a KPI is there when it has a value or its parts (one it cannot compute has neither)
    present = _frame(
        con,
        "select distinct kpi_id from kpi.fct_kpi_values where grain = 'day' and period_start = ? "
        "and (value is not null or numerator is not null or denominator is not null)",
        [end],
    )
    # a KPI unknown on the day because an accepted gap says so is not missing
    gaps = source_gaps(con, [n.id for n in computable], end, accepted or set())
    unknown = {
        kpi
        for row in gaps[gaps.date_day.map(lambda d: pd.Timestamp(d).date() == end)].itertuples()
        if row.unaccepted is None
        for kpi in row.kpis.split(", ")
    }
    checks = {
        # the published tree is the tree of tree.yaml, node for node (its keys are dbt's to test)
        "nodes": [
            gxe.ExpectColumnDistinctValuesToEqualSet(column="kpi_id", value_set=list(tree.nodes)),
        ],
        "kpis_present": [
            gxe.ExpectColumnDistinctValuesToContainSet(
                column="kpi_id", value_set=[n.id for n in computable if n.id not in unknown]
            )
        ],
    }
    targets = target_frames(con, tree)
    for name in targets:
        checks[name] = [
            gxe.ExpectColumnValuesToBeBetween(
                column="relative_residual",
                min_value=-IDENTITY_TOLERANCE,
                max_value=IDENTITY_TOLERANCE,
            )
        ]
    frames = {"nodes": nodes, "kpis_present": present, **targets}
    return Gate(SHARED_UNIT, frames, checks, not_available)


def add_completeness(
    con: duckdb.DuckDBPyConnection,
    tree: Tree,
    gate: Gate,
    start: dt.date,
    end: dt.date,
    band: Band,
    run_id: str | None = None,
) -> Gate:
    """The completeness of the raw data the unit reads (:mod:`expectations.completeness`):
    the files the run ``run_id`` refused, incomplete delivery days and orphans, one row per
    problem, none expected."""
    gxe = gx("great_expectations.expectations")

    sources = unit_sources(tree, gate.unit)
    if run_id is not None:
        # first: a refused file explains the gaps and thin days the other frames find; and
        # judged even when nothing else is (its source's only files refused): held back,
        # not skipped
        refused = refused_files(con, sources, run_id)
        if gate.skipped and not len(refused):
            return gate
        gate.skipped = False
        gate.frames = {"refused": refused, **gate.frames}
        gate.expectations["refused"] = [gxe.ExpectColumnValuesToBeNull(column=PROBLEM)]
    if gate.skipped:
        return gate
    gate.frames["incomplete"] = incomplete_days(con, sources, start, end, band)
    gate.frames["orphans"] = orphans(con, sources, start, end, tree.maturity_days)
    for name in ("incomplete", "orphans"):
        gate.expectations[name] = [gxe.ExpectColumnValuesToBeNull(column=PROBLEM)]
    return gate


def build_gate(
    con: duckdb.DuckDBPyConnection,
    tree: Tree,
    unit: str,
    start: dt.date,
    end: dt.date,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    band: Band = Band(),
    accepted: set[tuple[str, dt.date]] | None = None,
    run_id: str | None = None,
) -> Gate:
    """The unit's suites over the run's window, for the KPIs the build found computable;
    ``vocabulary``: the shop's members (kpi.yaml); ``band``: when a delivery day is
    incomplete (kpi.yaml ``completeness:``); ``accepted``: the missing source days an
    operator accepted (expectations/gaps.py); ``run_id``: the run whose refused files hold
    the unit back."""
    availability = kpi_availability(con)
    if unit == SHARED_UNIT:
        gate = shared_gate(con, tree, start, end, availability, accepted)
    else:
        volume_accepted = frozenset(s for s, days in band.accept.items() if end in days)
        gate = team_gate(
            con, tree, unit, start, end, vocabulary, availability, accepted, volume_accepted
        )
    return add_completeness(con, tree, gate, start, end, band, run_id)
