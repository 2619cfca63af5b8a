"""Publishing: what BI tools read, built so that they never see half a refresh.

* A unit (a team, or ``kpi_tree`` for the shared tree tables) publishes by exporting its tables from
  the build warehouse to Parquet in a fresh folder ``published/.versions/<unit>/<run>/`` and
  swapping the symlink ``published/<unit>`` to it (``os.replace``: atomic). A unit that is held
  back keeps its previous folder, byte for byte.
* The serving warehouse ``warehouse/kpi.duckdb`` is then brought up to date in a temporary
  file (a copy of the live one, with the units whose Parquet changed reloaded, plus the
  publication log) that is checkpointed, closed and moved over the live one
  (``os.replace``). Readers holding the old file keep reading the old
  snapshot; the build file is never opened by readers (docs/architecture.md, invariant 2).
* Every published row carries ``_published_run_id`` and ``_published_at``.
* The serving file's ``main`` schema holds the publication log (one entry per unit and run:
  published, held back, or skipped when the shop delivers nothing the unit can compute; each
  entry names the unit's KPIs that are not available and why) and any table another step
  keeps there through :func:`assemble_serving`'s ``tables`` (the alerts step keeps the alert
  history). A rebuild carries over the tables it does not own: the new file starts as a copy
  of the live one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import duckdb

from kpi_tree.model import Tree, default_tree
from kpi_tree.units import SHARED_UNIT, mart_table, publication_units, team_units, unit_kpis
from pipelines.queries import table_exists
from pipelines.settings import Settings

LOG_FILE = "_publication_log.jsonl"
#: a unit's status in the publication log
PUBLISHED = "published"
HELD_BACK = "held_back"  # its gate failed: its last good publication stays
SKIPPED = (
    "skipped"  # none of its KPIs can be computed (their sources never came): nothing to publish
)
KEEP_VERSIONS = 3


@dataclass
class LogEntry:
    unit: str
    run_id: str
    status: str  # PUBLISHED | HELD_BACK | SKIPPED
    published_at: str
    data_as_of: str
    window_start: str
    failed_expectations: list[str] = field(default_factory=list)
    provisional_days: int = 0
    report: str | None = None
    #: the unit's KPIs the shop cannot compute: "conversion_rate: needs sessions"
    not_available: list[str] = field(default_factory=list)


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
            # which KPIs the shop can compute, and why not
            "kpi_availability": "select * from kpi.fct_kpi_availability",
        }
    ids = ", ".join(f"'{n.id}'" for n in unit_kpis(tree, unit))
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


def run_entry(settings: Settings, unit: str, run_id: str) -> dict | None:
    """What the run did with the unit's publication (its newest log entry), or None."""
    return next(
        (e for e in reversed(read_log(settings)) if e["unit"] == unit and e["run_id"] == run_id),
        None,
    )


@dataclass(frozen=True)
class ServedTable:
    """A table another step keeps in the serving file's ``main`` schema, replaced whole.

    ``columns`` are (name, DuckDB type) pairs; ``description`` goes into the data dictionary
    (as the table's comment, so it stays with the table when later rebuilds carry it over).
    """

    name: str
    columns: Sequence[tuple[str, str]]
    rows: Sequence[Sequence[Any]]
    description: str


def serves(settings: Settings, table: str) -> bool:
    """Whether the live serving file has ``main.<table>``."""
    target = serving_db(settings)
    if not target.exists():
        return False
    try:
        with duckdb.connect(str(target), read_only=True) as con:
            return table_exists(con, "main", table)
    except duckdb.Error:
        return False


def assemble_serving(settings: Settings, tables: Sequence[ServedTable] = ()) -> Path:
    """Bring the serving DuckDB up to date with the current publications and move it into place.

    The new file starts as a copy of the live one (which nobody writes once it is in place), and
    only the units whose publication changed since it was built are reloaded from their Parquet:
    the file records, per unit, the version folder its tables came from. A night's six
    publications then each cost one unit's tables, not every unit's. A missing or unreadable
    live file, or one of an older layout, is built afresh from every unit's Parquet. The small
    tables (publication log, data dictionary) and the shared views are rewritten each time;
    ``tables`` replace their namesakes in ``main``, and the other tables of ``main`` are kept
    as they are (copied from a live file of an older layout too; lost only with a missing or
    unreadable one, until their step next writes them).

    The board is not redrawn here: a night replaces the file up to eleven times, a second
    apart, and the board is drawn once the run is over (``pipelines.board.page.redraw_if_stale``).
    """
    for table in tables:
        if table.name in OWN_MAIN_TABLES:
            raise ValueError(
                f"main.{table.name} is written by the publish step itself: give the table "
                "another name"
            )
    root = published_dir(settings)
    target = serving_db(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(".kpi.duckdb.*.tmp*"):
        stale.unlink(missing_ok=True)  # left by a publish that was killed
    tmp = target.parent / f".kpi.duckdb.{os.getpid()}.tmp"
    loaded = _loaded_versions(target)
    if loaded is not None:
        shutil.copyfile(target, tmp)
    units = publication_units(default_tree())
    con = duckdb.connect(str(tmp))
    try:
        if loaded is None:
            _carry_over(con, target)
            loaded = {}
        current = {unit: str((root / unit).resolve()) for unit in units if (root / unit).exists()}
        for view in SHARED_VIEWS:  # they read the team tables about to be replaced
            con.execute(f"drop view if exists {SHARED_UNIT}.{view}")
        for unit in units:
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
        for table in tables:
            _served_table(con, table)
        _dictionary_table(con, settings.currency)
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
        teams = [u for u in team_units(default_tree()) if (u, table) in tables]
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
        "failed_expectations varchar[], provisional_days bigint, report varchar, "
        "not_available varchar[])"
    )
    log = read_log(settings)
    if log:  # the table's columns are LogEntry's fields, in order (older entries lack some)
        defaults = asdict(LogEntry("", "", "", "", "", ""))
        _insert(
            con,
            "main.publication_log",
            [[e.get(f.name, defaults[f.name]) for f in fields(LogEntry)] for e in log],
        )


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list, chunk: int = 500) -> None:
    """Insert rows with one multi-row statement per chunk (DuckDB's executemany runs one
    statement per row)."""
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        row = "(" + ", ".join("?" for _ in part[0]) + ")"
        con.execute(
            f"insert into {table} values " + ", ".join(row for _ in part),
            [value for r in part for value in r],
        )


def _dictionary_table(con: duckdb.DuckDBPyConnection, currency: str) -> None:
    # the tables other steps keep in main describe themselves (their comment)
    kept = [
        {"schema": "main", "table": name, "column": "", "description": comment}
        for name, comment in con.execute(
            "select table_name, comment from duckdb_tables() where database_name = "
            "current_database() and schema_name = 'main' and comment is not null order by 1"
        ).fetchall()
        if name not in OWN_MAIN_TABLES
    ]
    dictionary = _dictionary_rows(currency) + kept
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


#: the tables of ``main`` the publish step writes itself; any other is another step's
OWN_MAIN_TABLES = ("publication_log", LAYOUT_TABLE)


def _carry_over(con: duckdb.DuckDBPyConnection, live: Path) -> None:
    """Copy the tables other steps keep in ``main`` from a live file that is not reused
    (an older layout), with their comments; nothing from a missing or unreadable one."""
    if not live.exists():
        return
    try:
        con.execute(f"attach '{live}' as live (read_only)")
    except duckdb.Error:
        return
    try:
        kept = con.execute(
            "select table_name, comment from duckdb_tables() "
            "where database_name = 'live' and schema_name = 'main'"
        ).fetchall()
        for name, comment in kept:
            if name in OWN_MAIN_TABLES:
                continue
            con.execute(f"create table main.{name} as select * from live.main.{name}")
            if comment:
                text = comment.replace("'", "''")
                con.execute(f"comment on table main.{name} is '{text}'")
    finally:
        con.execute("detach live")


def _served_table(con: duckdb.DuckDBPyConnection, table: ServedTable) -> None:
    con.execute(
        f"create or replace table main.{table.name} "
        f"({', '.join(f'{n} {t}' for n, t in table.columns)})"
    )
    description = table.description.replace("'", "''")
    con.execute(f"comment on table main.{table.name} is '{description}'")
    if table.rows:
        _insert(con, f"main.{table.name}", list(table.rows))


def _dictionary_rows(currency: str) -> list[dict[str, str]]:
    from kpi_tree.dbt_export import DBT_PROJECT_DIR
    from kpi_tree.model import default_tree
    from pipelines.publish.dictionary import data_dictionary

    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    return data_dictionary(default_tree(), manifest, currency) if manifest.exists() else []


def provisional_days(build: duckdb.DuckDBPyConnection, tree: Tree, unit: str) -> int:
    if unit == SHARED_UNIT:
        return 0
    ids = [n.id for n in unit_kpis(tree, unit)]
    return build.execute(
        "select count(distinct period_start) from kpi.fct_kpi_values "
        f"where grain = 'day' and is_provisional and kpi_id in ({', '.join('?' for _ in ids)})",
        ids,
    ).fetchall()[0][0]
