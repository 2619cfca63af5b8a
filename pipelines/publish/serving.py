"""Publishing: what BI tools read, built so that they never see half a refresh.

* A unit (a team, or ``kpi_tree`` for the shared tree tables) publishes by exporting its tables from
  the build warehouse to Parquet in a fresh folder ``published/.versions/<unit>/<run>/`` and
  swapping the symlink ``published/<unit>`` to it (``os.replace``: atomic). A unit that is held
  back keeps its previous folder, byte for byte.
* The serving warehouse ``warehouse/kpi.duckdb`` is then brought up to date in a temporary
  file (a copy of the live one, with the units whose Parquet changed reloaded, plus the
  publication log) that is checkpointed, closed and moved over the live one
  (``os.replace``). Readers holding the old file keep reading the old
  snapshot; the build file is never opened by readers (invariant 2).
* Every published row carries ``_published_run_id`` and ``_published_at``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import duckdb

from expectations.suites import SHARED_UNIT, TEAM_UNITS, UNITS, mart_table
from kpi_tree.model import Tree
from pipelines.settings import Settings

LOG_FILE = "_publication_log.jsonl"
KEEP_VERSIONS = 3


@dataclass
class LogEntry:
    unit: str
    run_id: str
    status: str  # published | held_back
    published_at: str
    data_as_of: str
    window_start: str
    failed_expectations: list[str] = field(default_factory=list)
    provisional_days: int = 0
    report: str | None = None


def published_dir(settings: Settings) -> Path:
    return settings.data_dir / "published"


def serving_db(settings: Settings) -> Path:
    return settings.warehouse_dir / "kpi.duckdb"


def unit_tables(tree: Tree, unit: str) -> dict[str, str]:
    """Published table name -> the query that reads it from the build warehouse."""
    if unit == SHARED_UNIT:
        return {
            "kpi_nodes": "select * from kpi.dim_kpi_nodes",
            "kpi_edges": "select * from kpi.dim_kpi_edges",
            # every plan version and every target of each, as planned (nothing overwritten)
            "plan_versions": "select * from staging.stg_targets__plan_versions",
            "targets": "select * from staging.stg_targets__targets",
            # the targets in force, stitched across versions, at every grain
            "targets_in_force": "select * from kpi.fct_targets",
        }
    team = TEAM_UNITS[unit]
    ids = ", ".join(f"'{n.id}'" for n in tree.nodes.values() if n.team == team)
    return {
        f"{unit}_kpis": f"select * from {mart_table(unit)}",
        "kpi_values": f"select * from kpi.fct_kpi_values where kpi_id in ({ids})",
        "kpi_vs_target": f"select * from kpi.fct_kpi_vs_target where kpi_id in ({ids})",
    }


def export_unit(
    build: duckdb.DuckDBPyConnection, settings: Settings, tree: Tree, unit: str, run_id: str
) -> dict[str, int]:
    """Write the unit's tables as Parquet in a new version folder and swap it in atomically."""
    root = published_dir(settings)
    version = root / ".versions" / unit / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{run_id[:8]}"
    version.mkdir(parents=True)
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = {}
    for table, query in unit_tables(tree, unit).items():
        target = version / f"{table}.parquet"
        build.execute(
            f"copy (select *, ? as _published_run_id, ?::timestamp as _published_at "
            f"from ({query})) to '{target}' (format parquet)",
            [run_id, published_at],
        )
        rows[table] = build.execute(f"select count(*) from ({query})").fetchall()[0][0]
    link = root / unit
    tmp_link = root / f".{unit}.{os.getpid()}.link"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(version.relative_to(root))
    if link.exists() and not link.is_symlink():  # a plain folder from elsewhere: move it aside
        shutil.rmtree(link)
    os.replace(tmp_link, link)
    _prune_versions(root / ".versions" / unit, keep=version)
    return rows


def _prune_versions(folder: Path, keep: Path) -> None:
    versions = sorted(p for p in folder.iterdir() if p.is_dir())
    for old in versions[:-KEEP_VERSIONS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def append_log(settings: Settings, entry: LogEntry) -> None:
    path = published_dir(settings) / LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")


def read_log(settings: Settings) -> list[dict]:
    path = published_dir(settings) / LOG_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def assemble_serving(settings: Settings) -> Path:
    """Bring the serving DuckDB up to date with the current publications and move it into place.

    The new file starts as a copy of the live one (which nobody writes once it is in place), and
    only the units whose publication changed since it was built are reloaded from their Parquet:
    the file records, per unit, the version folder its tables came from. A night's six
    publications then each cost one unit's tables, not every unit's. A missing or unreadable
    live file, or one of an older layout, is built afresh from every unit's Parquet. The small
    tables (publication log, alerts, data dictionary) and the shared views are rewritten each
    time.

    The board is not redrawn here: a night replaces the file up to eleven times, a second
    apart, and the board is drawn once the run is over (``pipelines.board.page.redraw_if_stale``).
    """
    root = published_dir(settings)
    target = serving_db(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(".kpi.duckdb.*.tmp*"):
        stale.unlink(missing_ok=True)  # left by a publish that was killed
    tmp = target.parent / f".kpi.duckdb.{os.getpid()}.tmp"
    loaded = _loaded_versions(target)
    if loaded is not None:
        shutil.copyfile(target, tmp)
    else:
        loaded = {}
    con = duckdb.connect(str(tmp))
    try:
        current = {unit: str((root / unit).resolve()) for unit in UNITS if (root / unit).exists()}
        for view in SHARED_VIEWS:  # they read the team tables about to be replaced
            con.execute(f"drop view if exists {SHARED_UNIT}.{view}")
        for unit in UNITS:
            if loaded.get(unit) != current.get(unit):
                con.execute(f"drop schema if exists {unit} cascade")
                if unit in current:
                    _load_unit(con, root / unit, unit)
        _shared_views(con)
        con.execute(f"create or replace table main.{LAYOUT_TABLE} (unit varchar, version varchar)")
        _insert(
            con,
            f"main.{LAYOUT_TABLE}",
            [[unit, f"{LAYOUT_VERSION}:{folder}"] for unit, folder in current.items()],
        )
        _log_table(con, settings)
        _alerts_table(con, settings)
        _dictionary_table(con)
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(tmp, target)
    wal = tmp.with_name(tmp.name + ".wal")
    wal.unlink(missing_ok=True)
    return target


#: the serving file's record of where each unit's tables came from; LAYOUT_VERSION changes
#: when the file's layout does, so files of an older layout are rebuilt rather than patched
LAYOUT_TABLE = "_serving_units"
LAYOUT_VERSION = "1"


def _loaded_versions(target: Path) -> dict[str, str] | None:
    """unit -> the Parquet version folder the live file's tables of that unit came from, or
    None when the live file cannot be reused (missing, unreadable, an older layout)."""
    if not target.exists():
        return None
    try:
        with duckdb.connect(str(target), read_only=True) as con:
            rows = con.execute(f"select unit, version from main.{LAYOUT_TABLE}").fetchall()
    except duckdb.Error:
        return None
    loaded = {}
    for unit, version in rows:
        layout, _, folder = version.partition(":")
        if layout != LAYOUT_VERSION:
            return None
        loaded[unit] = folder
    return loaded


def _load_unit(con: duckdb.DuckDBPyConnection, folder: Path, unit: str) -> None:
    con.execute(f"create schema {unit}")
    for parquet in sorted(folder.glob("*.parquet")):
        con.execute(
            f"create table {unit}.{parquet.stem} as "
            f"select * from read_parquet('{parquet.resolve()}')"
        )


#: views of the shared unit over every team's own (gated) slice
SHARED_VIEWS = ("mid_month_check", "kpi_vs_target", "kpi_values")


def _shared_views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SHARED_UNIT}")
    tables = {
        (schema, table)
        for schema, table in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }

    def union(table: str) -> str:
        teams = [u for u in TEAM_UNITS if (u, table) in tables]
        return " union all ".join(f"select * from {u}.{table}" for u in teams)

    if values := union("kpi_values"):
        con.execute(f"create view {SHARED_UNIT}.kpi_values as {values}")
    if pace := union("kpi_vs_target"):
        con.execute(f"create view {SHARED_UNIT}.kpi_vs_target as {pace}")
        con.execute(
            f"create view {SHARED_UNIT}.mid_month_check as "
            f"select * from {SHARED_UNIT}.kpi_vs_target where is_mid_month_check"
        )


def _log_table(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.execute(
        "create or replace table main.publication_log (unit varchar, run_id varchar, "
        "status varchar, published_at timestamp, data_as_of date, window_start date, "
        "failed_expectations varchar[], provisional_days bigint, report varchar)"
    )
    log = read_log(settings)
    if log:  # the table's columns are LogEntry's fields, in order
        _insert(con, "main.publication_log", [[e[f.name] for f in fields(LogEntry)] for e in log])


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list, chunk: int = 500) -> None:
    """Insert rows with one multi-row statement per chunk (DuckDB's executemany runs one
    statement per row: 0.3 s for the dictionary's 500 rows)."""
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        row = "(" + ", ".join("?" for _ in part[0]) + ")"
        con.execute(
            f"insert into {table} values " + ", ".join(row for _ in part),
            [value for r in part for value in r],
        )


def _dictionary_table(con: duckdb.DuckDBPyConnection) -> None:
    dictionary = _dictionary_rows()
    con.execute(
        f"create or replace table {SHARED_UNIT}.data_dictionary (schema_name varchar, "
        "table_name varchar, column_name varchar, description varchar)"
    )
    if dictionary:
        _insert(
            con,
            f"{SHARED_UNIT}.data_dictionary",
            [[r["schema"], r["table"], r["column"], r["description"]] for r in dictionary],
        )


def _alerts_table(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    from pipelines.alerts.store import COLUMNS, serving_rows

    con.execute(
        f"create or replace table main.alerts ({', '.join(f'{n} {t}' for n, t in COLUMNS)})"
    )
    rows = serving_rows(settings)
    if rows:
        _insert(con, "main.alerts", rows)


def _dictionary_rows() -> list[dict[str, str]]:
    from kpi_tree.dbt_export import DBT_PROJECT_DIR
    from kpi_tree.model import default_tree
    from pipelines.publish.dictionary import data_dictionary

    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    return data_dictionary(default_tree(), manifest) if manifest.exists() else []


def provisional_days(build: duckdb.DuckDBPyConnection, tree: Tree, unit: str) -> int:
    if unit == SHARED_UNIT:
        return 0
    ids = [n.id for n in tree.nodes.values() if n.team == TEAM_UNITS[unit]]
    return build.execute(
        "select count(distinct period_start) from kpi.fct_kpi_values "
        f"where grain = 'day' and is_provisional and kpi_id in ({', '.join('?' for _ in ids)})",
        ids,
    ).fetchall()[0][0]
