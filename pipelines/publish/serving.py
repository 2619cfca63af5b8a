"""The serving warehouse: one small DuckDB file of views over the published Parquet.

BI tools open ``warehouse/kpi.duckdb`` (read-only) and never the build file
(docs/architecture.md, invariant 2). What they read is laid out so that a night reaches every
reader at once, and so that nothing a reader does can break a later night:

* The numbers live in Parquet, one folder per night: ``published/.nights/<night>/<unit>/``,
  and ``published/current`` is a symlink to the night being served. A night is put in place
  by renaming that one link (``pipelines/publish/night.py``): every unit that passed, at once.
  ``published/<unit>`` links to ``current/<unit>`` for tools that read the files.
* ``kpi.duckdb`` holds views (with explicit columns) over ``published/current/...``, by
  absolute path, plus the data dictionary; every table, view and column carries its
  description (``COMMENT ON``). Because a view reads its file by path on each query, a
  connection that stays open, such as a BI server's pooled one, reads the new night on its
  next query; DuckDB hands a process's new connections the database it already has open, so
  a design that needs readers to reconnect would not reach them. Each table is one file, so a
  query of one table or view reads one night; the tree-wide ``kpi_tree.kpi_values`` and
  ``kpi_vs_target`` are one file each for the same reason.
* The file is written in the storage format of ``kpi.yaml`` ``serving.storage_version``
  (default v1.0.0: DuckDB 1.0 and later, and the BI tools that bundle them, open it), built
  aside and renamed in (``pipelines/publish/holders.py``: a foreign read-write holder is named
  and its WAL set aside, so the new file always opens). It is rebuilt whenever what it serves
  changes, so its identity (inode, mtime) says when: the board redraws on that.
* ``main`` has the publication log and the tables other steps keep there (the alert history)
  through :func:`assemble_serving`'s ``tables``: each is a Parquet file in
  ``published/_main/``, replaced whole, with a view.

The publication log (``published/_publication_log.jsonl``, and ``main.publication_log``) has
one entry per unit and run: ``published`` (written only once the night that carries the
unit is in place), ``held_back``, ``skipped`` or ``failed`` (a publish that stopped midway,
with the reason in ``notes``; a later run repairs it and says so).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import duckdb
import psutil

from kpi_tree.dbt_export import DBT_PROJECT_DIR
from kpi_tree.model import Tree, default_tree
from kpi_tree.units import SHARED_UNIT, publication_units, unit_kpis
from pipelines.publish.dictionary import LOG_COLUMN_DESCRIPTIONS, LOG_DESCRIPTION, data_dictionary
from pipelines.publish.holders import install, wal_of
from pipelines.publish.tables import LATEST, PACE_TABLES
from pipelines.settings import Settings

LOG_FILE = "_publication_log.jsonl"
#: a unit's status in the publication log
PUBLISHED = "published"  # the night that carries it is in place, Parquet and serving file
HELD_BACK = "held_back"  # its gate failed: its last good publication stays
SKIPPED = "skipped"  # none of its KPIs can be computed (their sources never came)
FAILED = "failed"  # its publish stopped midway (notes say why); the last good one stays
#: the served night: a symlink into NIGHTS, replaced in one rename
CURRENT = "current"
NIGHTS = ".nights"
#: the tables of main, as Parquet files replaced whole
MAIN = "_main"
LOG_TABLE = "publication_log"


@dataclass
class LogEntry:
    unit: str
    run_id: str
    status: str  # PUBLISHED | HELD_BACK | SKIPPED | FAILED
    published_at: str  # when the entry was made (for published: when its night went live)
    data_as_of: str
    window_start: str
    failed_expectations: list[str] = field(default_factory=list)
    provisional_days: int = 0
    report: str | None = None
    #: the unit's KPIs the shop cannot compute: "conversion_rate: needs sessions"
    not_available: list[str] = field(default_factory=list)
    #: what else the operator should know: why a publish failed, that it was repaired, a
    #: foreign writer found holding the serving file
    notes: list[str] = field(default_factory=list)


#: publication_log's columns: LogEntry's fields, in order
LOG_COLUMNS = (
    ("unit", "varchar"),
    ("run_id", "varchar"),
    ("status", "varchar"),
    ("published_at", "timestamp"),
    ("data_as_of", "date"),
    ("window_start", "date"),
    ("failed_expectations", "varchar[]"),
    ("provisional_days", "bigint"),
    ("report", "varchar"),
    ("not_available", "varchar[]"),
    ("notes", "varchar[]"),
)
assert [c for c, _ in LOG_COLUMNS] == [f.name for f in fields(LogEntry)]


def published_dir(settings: Settings) -> Path:
    return settings.data_dir / "published"


def serving_db(settings: Settings) -> Path:
    return settings.warehouse_dir / "kpi.duckdb"


def main_dir(settings: Settings) -> Path:
    return published_dir(settings) / MAIN


def current_night(settings: Settings) -> Path | None:
    """The night folder being served, or None before the first night."""
    link = published_dir(settings) / CURRENT
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()


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

    ``columns`` are (name, DuckDB type) pairs; ``description`` and ``column_descriptions``
    go into the data dictionary and the file's comments (they are kept beside the table's
    Parquet, so they stay with it when later rebuilds carry it over).
    """

    name: str
    columns: Sequence[tuple[str, str]]
    rows: Sequence[Sequence[Any]]
    description: str
    column_descriptions: Mapping[str, str] = field(default_factory=dict)


#: the tables of ``main`` the publish step writes itself; any other is another step's
OWN_MAIN_TABLES = (LOG_TABLE,)


def serves(settings: Settings, table: str) -> bool:
    """Whether the serving file has ``main.<table>``."""
    return (main_dir(settings) / f"{table}.parquet").exists() and serving_db(settings).exists()


class ServingError(RuntimeError):
    """The serving file could not be built; the message says what to change."""


def assemble_serving(
    settings: Settings,
    tables: Sequence[ServedTable] = (),
    report: Callable[[str], None] | None = None,
) -> Path:
    """Write ``tables`` into ``main``, and build and put in place the serving file for the
    night being served, with the publication log as it now is.

    ``report`` hears what was found and done about a foreign writer of the live file (see
    :func:`pipelines.publish.holders.install`).
    """
    for table in tables:
        if table.name in OWN_MAIN_TABLES:
            raise ValueError(
                f"main.{table.name} is written by the publish step itself: give the table "
                "another name"
            )
    target = serving_db(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    main = main_dir(settings)
    main.mkdir(parents=True, exist_ok=True)
    _carry_over(target, main)
    for table in tables:
        _write_main(main, table)
    _write_main(main, _log_table(settings))
    _remove_stale_builds(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _build(settings, tmp)
        notes = install(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        wal_of(tmp).unlink(missing_ok=True)
    for note in notes:
        if report:
            report(note)
    return target


_BUILD = re.compile(r"^\.kpi\.duckdb\.(\d+)\.tmp")


def _remove_stale_builds(target: Path) -> None:
    """Remove what a build killed midway left (its process is gone)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp*"):
        found = _BUILD.match(stale.name)
        if found and int(found[1]) != os.getpid() and psutil.pid_exists(int(found[1])):
            continue  # another process is building
        stale.unlink(missing_ok=True)


# ---- main's tables ----------------------------------------------------------------------


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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write_main(folder: Path, table: ServedTable) -> None:
    """``main.<name>`` as ``<name>.parquet`` (replaced whole) and its descriptions beside it."""
    parquet = folder / f"{table.name}.parquet"
    tmp = folder / f".{table.name}.{os.getpid()}.tmp"
    with duckdb.connect() as con:
        columns = ", ".join(f"{_quote(n)} {t}" for n, t in table.columns)
        con.execute(f"create table t ({columns})")
        if table.rows:
            _insert(con, "t", list(table.rows))
        con.execute(f"copy t to {_text(str(tmp))} (format parquet)")
    about = {"description": table.description, "columns": dict(table.column_descriptions)}
    side = folder / f".{table.name}.{os.getpid()}.json.tmp"
    side.write_text(json.dumps(about, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(side, folder / f"{table.name}.json")
    os.replace(tmp, parquet)


def _main_tables(folder: Path) -> dict[str, dict]:
    """name -> its descriptions, for each table of main (its Parquet beside)."""
    out = {}
    for parquet in sorted(folder.glob("*.parquet")):
        about = parquet.with_suffix(".json")
        out[parquet.stem] = (
            json.loads(about.read_text(encoding="utf-8"))
            if about.exists()
            else {"description": "", "columns": {}}
        )
    return out


def _log_table(settings: Settings) -> ServedTable:
    defaults = asdict(LogEntry("", "", "", "", "", ""))
    rows = []
    for entry in read_log(settings):
        row = {c: entry.get(c, defaults[c]) for c, _ in LOG_COLUMNS}  # older ones lack some
        for day in ("data_as_of", "window_start"):
            row[day] = None if row[day] in ("", "None") else row[day]  # a run without a window
        rows.append(list(row.values()))
    return ServedTable(LOG_TABLE, LOG_COLUMNS, rows, LOG_DESCRIPTION, LOG_COLUMN_DESCRIPTIONS)


def _carry_over(live: Path, folder: Path) -> None:
    """From a live file of the earlier layout (the tables themselves, not views), copy the
    tables other steps keep in ``main`` (with their comments) that ``folder`` lacks."""
    if not live.exists():
        return
    try:
        con = duckdb.connect()
        con.execute(f"attach {_text(str(live))} as live (read_only)")
    except duckdb.Error:
        return  # unreadable: those tables come back when their step next writes them
    try:
        kept = con.execute(
            "select table_name, comment from duckdb_tables() "
            "where database_name = 'live' and schema_name = 'main'"
        ).fetchall()
        if "_serving_units" not in {name for name, _ in kept}:
            return  # not the earlier layout
        for name, comment in kept:
            if name in (*OWN_MAIN_TABLES, "_serving_units"):
                continue
            if (folder / f"{name}.parquet").exists():
                continue
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            con.execute(f"copy live.main.{_quote(name)} to {_text(str(tmp))} (format parquet)")
            about = {"description": comment or "", "columns": {}}
            (folder / f"{name}.json").write_text(json.dumps(about, ensure_ascii=False))
            os.replace(tmp, folder / f"{name}.parquet")
    finally:
        con.close()


# ---- the file of views ------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    """A view (or the dictionary table) of the serving file."""

    schema: str
    name: str
    columns: tuple[str, ...]
    sql: str | None  # the view's query; None for a table


def _parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, ...]:
    rows = con.execute(f"describe select * from read_parquet({_text(str(path))})").fetchall()
    return tuple(r[0] for r in rows)


def _select(columns: Sequence[str]) -> str:
    return ", ".join(_quote(c) for c in columns)


def relations(settings: Settings, con: duckdb.DuckDBPyConnection) -> list[Relation]:
    """The views of the serving file over the night being served and main's tables."""
    root = published_dir(settings)
    night = current_night(settings)
    out: list[Relation] = []
    if night is not None:
        present = [u for u in publication_units(default_tree()) if (night / u).is_dir()]
        for unit in present:
            for parquet in sorted((night / unit).glob("*.parquet")):
                columns = _parquet_columns(con, parquet)
                # by the stable path through `current`: the night is read on each query
                path = _text(str(root / CURRENT / unit / parquet.name))
                scan = f"read_parquet({path})"
                out.append(
                    Relation(unit, parquet.stem, columns, f"select {_select(columns)} from {scan}")
                )
                if parquet.stem == "kpi_vs_target":
                    out += _pace_views(unit, columns, scan)
    for name in _main_tables(main_dir(settings)):
        parquet = main_dir(settings) / f"{name}.parquet"
        columns = _parquet_columns(con, parquet)
        scan = f"read_parquet({_text(str(parquet))})"
        out.append(Relation("main", name, columns, f"select {_select(columns)} from {scan}"))
    return out


def _pace_views(unit: str, columns: tuple[str, ...], scan: str) -> list[Relation]:
    """The newest as-of day of each team (``*_latest``), and the shared unit's mid-month
    check. Each reads its file once (a window, not a self-join), so it sees one night."""
    cols = _select(columns)

    def latest(where: str) -> str:
        return (
            f"select {cols} from (select {cols}, max(as_of_day) over (partition by team) "
            f"as newest_as_of_day from {scan}{where}) as pace "
            "where as_of_day = newest_as_of_day"
        )

    views = [Relation(unit, f"kpi_vs_target{LATEST}", columns, latest(""))]
    if unit == SHARED_UNIT:
        check = " where is_mid_month_check"
        views += [
            Relation(unit, "mid_month_check", columns, f"select {cols} from {scan}{check}"),
            Relation(unit, f"mid_month_check{LATEST}", columns, latest(check)),
        ]
    assert {v.name.removesuffix(LATEST) for v in views} <= set(PACE_TABLES)
    return views


DICTIONARY = (SHARED_UNIT, "data_dictionary")


def _build(settings: Settings, path: Path) -> None:
    """Write the serving file for the night being served into ``path``."""
    version = settings.serving.storage_version
    con = duckdb.connect()
    try:
        try:
            con.execute(f"attach {_text(str(path))} as serving (storage_version {_text(version)})")
        except duckdb.InvalidInputException as err:
            raise ServingError(
                f"kpi.yaml serving.storage_version: {err}. Give a version this DuckDB "
                f"({duckdb.__version__}) knows."
            ) from None
        views = relations(settings, con)
        dictionary = _dictionary_rows(settings, views)
        con.execute("use serving")
        for schema in dict.fromkeys([v.schema for v in views] + [DICTIONARY[0]]):
            con.execute(f"create schema if not exists {_quote(schema)}")
        for view in views:
            con.execute(f"create view {_quote(view.schema)}.{_quote(view.name)} as {view.sql}")
        con.execute(
            f"create table {_quote(DICTIONARY[0])}.{_quote(DICTIONARY[1])} (schema_name varchar, "
            "table_name varchar, column_name varchar, description varchar)"
        )
        if dictionary:
            _insert(
                con,
                ".".join(map(_quote, DICTIONARY)),
                [[r["schema"], r["table"], r["column"], r["description"]] for r in dictionary],
            )
        dictionary_columns = ("schema_name", "table_name", "column_name", "description")
        _comment(con, [*views, Relation(*DICTIONARY, dictionary_columns, None)], dictionary)
        con.execute("use memory")
        con.execute("checkpoint serving")
        con.execute("detach serving")
    finally:
        con.close()


def _comment(
    con: duckdb.DuckDBPyConnection, described: list[Relation], dictionary: list[dict[str, str]]
) -> None:
    """COMMENT ON every relation and column from the data dictionary, so BI tools' catalogs
    show them."""
    text = {(r["schema"], r["table"], r["column"]): r["description"] for r in dictionary}
    for rel in described:
        name = f"{_quote(rel.schema)}.{_quote(rel.name)}"
        kind = "view" if rel.sql is not None else "table"
        if about := text.get((rel.schema, rel.name, "")):
            con.execute(f"comment on {kind} {name} is {_text(about)}")
        for column in rel.columns:
            about = text.get((rel.schema, rel.name, column)) or text.get(("*", "*", column))
            if about:
                con.execute(f"comment on column {name}.{_quote(column)} is {_text(about)}")


def _dictionary_rows(settings: Settings, views: list[Relation]) -> list[dict[str, str]]:
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    rows = data_dictionary(default_tree(), manifest, settings.currency) if manifest.exists() else []
    # the tables other steps keep in main describe themselves
    for name, about in _main_tables(main_dir(settings)).items():
        if name in OWN_MAIN_TABLES:
            continue
        rows.append(
            {"schema": "main", "table": name, "column": "", "description": about["description"]}
        )
        for column, text in about.get("columns", {}).items():
            rows.append({"schema": "main", "table": name, "column": column, "description": text})
    served = {(v.schema, v.name) for v in views} | {DICTIONARY}
    return [r for r in rows if (r["schema"], r["table"]) in served or r["schema"] == "*"]


def provisional_days(build: duckdb.DuckDBPyConnection, tree: Tree, unit: str) -> int:
    if unit == SHARED_UNIT:
        return 0
    ids = [n.id for n in unit_kpis(tree, unit)]
    return build.execute(
        "select count(distinct period_start) from kpi.fct_kpi_values "
        f"where grain = 'day' and is_provisional and kpi_id in ({', '.join('?' for _ in ids)})",
        ids,
    ).fetchall()[0][0]


def describe_night(settings: Settings) -> dict | None:
    """The record of the night being served (its run, and where each unit came from)."""
    night = current_night(settings)
    record = night / "night.json" if night else None
    return json.loads(record.read_text(encoding="utf-8")) if record and record.exists() else None


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
