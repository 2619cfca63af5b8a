"""Plans in, versions out: the warehouse side of target planning.

The planning itself is pure (``kpi_tree.targets``); this module feeds it the history from the
build warehouse (the top KPI's full months, the trailing measure totals for drivers planned
as ``null``), stores each computed plan as a new version (``store.py``), and loads every
version into the build warehouse, where dbt stitches the targets in force and paces against
them (``dbt_project/models/marts/targets/``).
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from kpi_tree.model import Tree
from kpi_tree.targets import compute_plan
from kpi_tree.targets.build import ALL, PlanTargets
from kpi_tree.targets.plan import Plan, load_plan
from pipelines.queries import table_exists
from pipelines.settings import Settings
from pipelines.targets.store import TARGET_SCHEMA, StoredVersion, VersionStore

SCHEMA = "targets"
TOTAL, ALL_MEMBERS = "total", "(all)"  # fct_kpi_values' names for the unsliced total


def version_store(settings: Settings) -> VersionStore:
    return VersionStore(settings.targets_dir / "versions")


def newest_day(con: duckdb.DuckDBPyConnection | None) -> dt.date | None:
    if con is None or not table_exists(con, "kpi", "fct_base_measures"):
        return None
    return con.execute("select max(date_day) from kpi.fct_base_measures").fetchall()[0][0]


def monthly_history(
    con: duckdb.DuckDBPyConnection | None, kpi: str, until: dt.date | None = None
) -> dict[tuple[int, int], float]:
    """(year, month) -> the KPI's total, for the months the warehouse has every day of."""
    if con is None or not table_exists(con, "kpi", "fct_kpi_values"):
        return {}
    rows = con.execute(
        """
        with covered as (
            select date_trunc('month', date_day) as month_start, count(distinct date_day) as days
            from kpi.fct_base_measures
            where dimension = 'total' and (? is null or date_day <= ?)
            group by 1
        )
        select v.period_start, v.value
        from kpi.fct_kpi_values as v
        inner join covered on covered.month_start = v.period_start
        where v.grain = 'month' and v.dimension = 'total' and v.kpi_id = ?
          and covered.days = day(last_day(v.period_start)) and v.value is not null
        """,
        [until, until, kpi],
    ).fetchall()
    return {(d.year, d.month): float(v) for d, v in rows}


def trailing_totals(
    con: duckdb.DuckDBPyConnection | None, end: dt.date | None, days: int
) -> dict[str, float]:
    """measure id -> Σ over the ``days`` days ending at ``end`` (the drivers' trailing history)."""
    if con is None or end is None or not table_exists(con, "kpi", "fct_base_measures"):
        return {}
    rows = con.execute(
        """
        select measure_id, sum(value) from kpi.fct_base_measures
        where dimension = 'total' and date_day between ? and ?
        group by 1
        """,
        [end - dt.timedelta(days=days - 1), end],
    ).fetchall()
    return {m: float(v) for m, v in rows if v is not None}


def target_rows(plan: Plan, computed: PlanTargets, tree: Tree) -> pl.DataFrame:
    """The version's targets, with the (dimension, member) whose actuals pace each scope:
    ``all`` is the total; an allocation with a ``dimension`` maps its top-level units to that
    dimension's members; other scopes (new business, regions, people) carry targets only."""
    mapped = {a.name: a.dimension for a in plan.allocations}
    records = []
    for row in computed.rows(tree):
        dimension = member = None
        if row.scope == ALL:
            dimension, member = TOTAL, ALL_MEMBERS
        elif ":" in row.scope:
            name, path = row.scope.split(":", 1)
            if mapped.get(name) and "/" not in path:
                dimension, member = mapped[name], path
        records.append(
            {
                "version_id": "",
                "kpi_id": row.kpi,
                "grain": row.grain,
                "period": row.period,
                "period_start": row.period_start,
                "period_end": row.period_end,
                "scope": row.scope,
                "dimension": dimension,
                "member": member,
                "value": row.value,
            }
        )
    return pl.DataFrame(records, schema=TARGET_SCHEMA)


@dataclass(frozen=True)
class Planned:
    plan: Plan
    computed: PlanTargets
    rows: pl.DataFrame
    history_as_of: dt.date | None
    #: the trailing window's length, and the last day of the mature one (None: no mature days)
    trailing_days: int = 0
    mature_as_of: dt.date | None = None


def compute(
    plan_path: Path,
    tree: Tree,
    con: duckdb.DuckDBPyConnection | None,
    *,
    trailing_days: int,
    as_of: dt.date | None = None,
) -> Planned:
    """Compute a plan file against the warehouse's history up to ``as_of`` (default: newest)."""
    plan = load_plan(plan_path, tree)
    as_of = as_of or newest_day(con)
    history = monthly_history(con, plan.top_kpi, as_of)
    trailing = trailing_totals(con, as_of, trailing_days)
    # the KPIs that mature are planned from days whose outcomes have all arrived
    mature_end = as_of - dt.timedelta(days=tree.maturity_days) if as_of else None
    mature = trailing_totals(con, mature_end, trailing_days) if mature_end else None
    computed = compute_plan(
        plan, tree, history=history, trailing_totals=trailing, mature_totals=mature or None
    )
    return Planned(
        plan,
        computed,
        target_rows(plan, computed, tree),
        as_of,
        trailing_days,
        mature_end if mature else None,
    )


def default_effective_from(
    store: VersionStore, plan_year: int, as_of: dt.date | None, today: dt.date
) -> dt.date:
    """The first version of a year is in force from 1 January; a later one from the first day
    not yet judged (the day after the newest data), so past days keep the targets they had."""
    first_day = dt.date(plan_year, 1, 1)
    if not any(v.plan_year == plan_year for v in store.versions()):
        return first_day
    nxt = (as_of + dt.timedelta(days=1)) if as_of else today
    return max(first_day, nxt)


def store_version(
    store: VersionStore,
    planned: Planned,
    *,
    plan_path: Path,
    author: str,
    reason: str,
    effective_from: dt.date,
) -> StoredVersion:
    plan, c = planned.plan, planned.computed
    if effective_from.year != plan.year:
        raise ValueError(f"effective_from {effective_from} is outside the plan's year {plan.year}")
    meta = {
        "plan_name": str(plan.raw.get("name") or plan_path.stem),
        "plan_year": plan.year,
        "top_kpi": plan.top_kpi,
        "author": author,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "reason": reason,
        "effective_from": effective_from.isoformat(),
        "plan_hash": plan.hash,
        "plan_file": str(plan_path),
        "method": c.annual.method,
        "annual_target": c.annual_cents / 100,
        "new_business": c.new_business_cents / 100,
        "months_total": c.months_total_cents / 100,
        "history_as_of": planned.history_as_of.isoformat() if planned.history_as_of else None,
        "drivers": dict(c.drivers),
        "shares": dict(c.shares),
    }
    return store.add(meta, plan_path.read_text(encoding="utf-8"), planned.rows)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def sync_plan_files(
    settings: Settings,
    tree: Tree,
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    log: Callable[[str], None] = print,
) -> list[StoredVersion]:
    """Version every configured plan file that has no version with its exact content yet."""
    store = version_store(settings)
    created = []
    for path in settings.plan_files():
        plan = load_plan(path, tree)
        known = store.with_hash(plan.hash)
        if known is not None:
            continue
        first = not any(v.plan_year == plan.year for v in store.versions())
        effective = default_effective_from(store, plan.year, as_of, dt.date.today())
        if effective.year != plan.year:
            log(f"{path.name}: plan year {plan.year} is over (data as of {as_of}); not versioned")
            continue
        planned = compute(
            path, tree, con, trailing_days=settings.targets.trailing_days, as_of=as_of
        )
        version = store_version(
            store,
            planned,
            plan_path=path,
            author=settings.targets.author,
            reason=(f"new plan file {path.name}" if first else f"plan file {path.name} changed"),
            effective_from=effective,
        )
        log(
            f"plan version {version.version_id} from {path.name}: {plan.top_kpi} "
            f"{settings.formats.money(version.annual_target)} for {plan.year}, in force from "
            f"{effective}"
        )
        created.append(version)
    return created


VERSION_COLUMNS = (
    "version_id varchar, plan_name varchar, plan_year integer, top_kpi varchar, author varchar, "
    "created_at timestamp, reason varchar, effective_from date, plan_hash varchar, "
    "plan_file varchar, method varchar, annual_target double, new_business double, "
    "months_total double, history_as_of date, drivers json, shares json"
)


def load_into_warehouse(con: duckdb.DuckDBPyConnection, store: VersionStore) -> tuple[int, int]:
    """Replace ``targets.plan_versions`` and ``targets.targets`` with every stored version."""
    import json

    versions = store.versions()
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute("begin transaction")
    try:
        con.execute(f"create or replace table {SCHEMA}.plan_versions ({VERSION_COLUMNS})")
        for v in versions:
            con.execute(
                f"insert into {SCHEMA}.plan_versions values "
                "(?, ?, ?, ?, ?, ?::timestamptz at time zone 'UTC', "
                "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    v.version_id,
                    v.plan_name,
                    v.plan_year,
                    v.top_kpi,
                    v.author,
                    v.created_at,
                    v.reason,
                    v.effective_from,
                    v.plan_hash,
                    v.plan_file,
                    v.method,
                    v.annual_target,
                    v.new_business,
                    v.months_total,
                    v.history_as_of,
                    json.dumps(v.drivers),
                    json.dumps(v.shares),
                ],
            )
        sql_type = {pl.Date: "date", pl.Float64: "double"}
        columns = ", ".join(
            f"{name} {sql_type.get(dtype, 'varchar')}" for name, dtype in TARGET_SCHEMA.items()
        )
        con.execute(f"create or replace table {SCHEMA}.targets ({columns})")
        files = [str(store.targets_path(v.version_id)) for v in versions]
        if files:
            con.execute(
                f"insert into {SCHEMA}.targets select {', '.join(TARGET_SCHEMA)} "
                f"from read_parquet({files!r})"
            )
        rows = con.execute(f"select count(*) from {SCHEMA}.targets").fetchall()[0][0]
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(versions), rows
