"""The serving warehouse: one small DuckDB file of views over the published Parquet.

BI tools open ``warehouse/kpi.duckdb`` (read-only) and never the build file
(docs/architecture.md, invariant 2). What they read is laid out so that a night reaches every
reader at once, even a connection that stays open, and so that nothing a reader does can
break a later night:

* The numbers live in Parquet, one folder per night, ``published/.nights/<night>/<unit>/``,
  whose files are never written again. Night folders are named so that the newest sorts
  first. A night goes live when its complete folder is renamed into ``.nights``
  (``pipelines/publish/night.py``): every unit that passed, at once.
* ``kpi.duckdb`` holds a view (with explicit columns) per published table that picks the
  newest night's file when the query is planned: ``glob()`` lists the nights' files, and
  ``read_parquet`` reads the one named first, pruning the others unopened (DuckDB 1.1 and
  later do). A connection that stays open, such as a BI server's pooled one, therefore reads
  the new night on its next query: DuckDB hands a process's new connections the database it
  already has open, so a design that needs readers to reconnect would not reach them. No
  file a query may read is ever replaced in place (DuckDB opens a file at planning and again
  at execution; a file swapped in between is read with the other's metadata: errors, or
  wrong rows). A query of one table or view reads one night; the tree-wide
  ``kpi_tree.kpi_values`` and ``kpi_vs_target`` are one file each for that reason.
* The views name the Parquet by absolute path: a data folder moved or copied needs its
  serving file built again (``kpi serve-info --rebuild``; the next night does it too).
* ``main`` has the publication log and the tables other steps keep there (the alert history)
  through :func:`assemble_serving`'s ``tables``: each is written as a new version,
  ``published/_main/<table>/<version>.parquet``, read the same way.
* The file itself is written in the storage format of ``kpi.yaml``
  ``serving.storage_version`` (default v1.0.0: DuckDB 1.0 and later, and the BI tools that
  bundle them, open it), with every table, view and column described (``COMMENT ON``, from
  the data dictionary). It is built aside and renamed in (``pipelines/publish/holders.py``: a
  foreign read-write holder is named and its WAL set aside, so the new file always opens)
  whenever its views would change: a new table, column or description, another storage
  version, a moved data folder. A night that brings only new numbers goes live with its
  folder, and the file stays as it is (``.kpi.duckdb.shape`` beside it says what it was
  built for). :func:`served_stamp` says what a reader sees (the file, the newest night,
  main's newest versions): the board redraws when it changes.

The publication log (``published/_publication_log.jsonl``, and ``main.publication_log``) has
one entry per unit and run: ``published`` (written only once the night that carries the
unit is live), ``held_back``, ``skipped`` or ``failed`` (a publish that stopped midway, with
the reason in ``notes``; a later run repairs it and says so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
#: the nights, newest first by name; what the views read
NIGHTS = ".nights"
#: what a view's glob matches in NIGHTS (and a table of main's versions): names that start
#: with a digit. DuckDB's glob matches hidden names too, and a folder being removed
#: (``.<name>.removed``) would otherwise sort first and be read as the newest
VERSIONS = "[0-9]*"
#: a night being put in place, before it goes live: a version name that sorts after every
#: real one, so a view picks it only for a table no live night has (which no live serving
#: file has a view of); the serving file's views are created against it
PENDING = "9" * 17 + "-pending"
#: a link to the newest night, for the tools that read the Parquet files
CURRENT = "current"
#: the tables of main, a folder of versions each
MAIN = "_main"
LOG_TABLE = "publication_log"
#: versions of a table of main kept (a query reads the newest when it starts)
KEEP_VERSIONS = 5
#: nothing a query may still be reading is removed before it is this old
GRACE = dt.timedelta(minutes=10)


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


def version_name(run_id: str = "") -> str:
    """A name that sorts before every earlier one (the newest first, as the views pick), and
    says when (UTC) and, for a night, which run."""
    now = dt.datetime.now(dt.UTC)
    micros = int(now.timestamp() * 1_000_000)
    name = f"{10**17 - micros:017d}-{now:%Y%m%dT%H%M%S}"
    return f"{name}-{run_id[:8]}" if run_id else name


def newest(folder: Path, suffix: str = "") -> Path | None:
    """The newest version in ``folder`` (a night folder, or with ``suffix`` a file)."""
    if not folder.is_dir():
        return None
    found = sorted(
        p
        for p in folder.iterdir()
        if p.name[0].isdigit()
        and not p.name.startswith(PENDING)
        and (p.is_file() and p.name.endswith(suffix) if suffix else p.is_dir())
    )
    return found[0] if found else None


def current_night(settings: Settings) -> Path | None:
    """The night being served (the newest), or None before the first night."""
    return newest(published_dir(settings) / NIGHTS)


def remove_old(versions: list[Path], keep: int) -> None:
    """Remove all but the ``keep`` newest of ``versions`` (sorted newest first), once they are
    older than GRACE: a query may still be reading one it picked."""
    cutoff = dt.datetime.now().timestamp() - GRACE.total_seconds()
    for old in versions[keep:]:
        try:
            if old.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        if old.is_dir():
            trash = old.with_name(f".{old.name}.removed")
            os.replace(old, trash)  # gone from the glob at once, then deleted
            shutil.rmtree(trash, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


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
    return (
        newest(main_dir(settings) / table, ".parquet") is not None and serving_db(settings).exists()
    )


class ServingError(RuntimeError):
    """The serving file could not be built; the message says what to change."""


def assemble_serving(
    settings: Settings,
    tables: Sequence[ServedTable] = (),
    report: Callable[[str], None] | None = None,
    force: bool = False,
) -> Path:
    """Write ``tables`` into ``main``, and build and put in place the serving file for the
    night being served, with the publication log as it now is (unless the live one serves
    them already; ``force``: built all the same).

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
    write_log_table(settings)
    put_in_place(settings, build_serving(settings, force=force), report)
    return target


def write_log_table(settings: Settings) -> None:
    """``main.publication_log`` as the log now is (a new version)."""
    _write_main(main_dir(settings), _log_table(settings))


def build_serving(
    settings: Settings, night: Path | None = None, force: bool = False
) -> Path | None:
    """Build the serving file for ``night`` (default: the newest) aside; its path, or None
    when the live file already serves it (unless ``force``): its views read the newest night
    and main's newest versions whenever a query starts, so only other views need a new file."""
    target = serving_db(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target)
    plan = _plan(settings, night or current_night(settings))
    if not force and _serves(target, plan.shape):
        return None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _build(settings, tmp, plan)
        _shape_file(tmp).write_text(plan.shape, encoding="utf-8")
    except BaseException:
        discard(tmp)
        raise
    return tmp


def put_in_place(
    settings: Settings, tmp: Path | None, report: Callable[[str], None] | None = None
) -> list[str]:
    """Rename a file :func:`build_serving` made over the live one; what was found and done
    about a foreign writer (also told to ``report``). ``None`` (the live file serves it
    already): nothing to do."""
    if tmp is None:
        return []
    target = serving_db(settings)
    shape = _shape_file(tmp).read_text(encoding="utf-8")
    try:
        notes = install(tmp, target)
    finally:
        discard(tmp)
    recorded = _shape_file(target)
    side = recorded.with_name(f"{recorded.name}.{os.getpid()}.tmp")
    side.write_text(json.dumps({"shape": shape, "file": file_stamp(target)}), encoding="utf-8")
    os.replace(side, recorded)
    for note in notes:
        if report:
            report(note)
    return notes


def discard(tmp: Path | None) -> None:
    if tmp is None:
        return
    tmp.unlink(missing_ok=True)
    wal_of(tmp).unlink(missing_ok=True)
    _shape_file(tmp).unlink(missing_ok=True)


def file_stamp(path: Path) -> str:
    """Which file this is: the serving file is replaced (a new inode), never written in place."""
    st = path.stat()
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


def served_stamp(settings: Settings) -> str:
    """What a reader of the serving file sees: the file, the night being served and the
    newest version of each table of main (what its views read when a query starts)."""
    night = current_night(settings)
    main = main_dir(settings)
    tables = sorted(p for p in main.iterdir() if p.is_dir()) if main.is_dir() else []
    versions = [f"{t.name}={v.stem}" for t in tables if (v := newest(t, ".parquet"))]
    return " ".join([file_stamp(serving_db(settings)), night.name if night else "-", *versions])


def _shape_file(path: Path) -> Path:
    """Beside a serving file: the shape it was built for (see :func:`_serves`)."""
    return path.with_name(f".{path.name.lstrip('.')}.shape")


def _serves(target: Path, shape: str) -> bool:
    """Whether the live file was built for ``shape`` and is as it was built: the same file
    (no one replaced or wrote it), no WAL beside it (a foreign writer's, which a new file
    sets aside), and no process holding it for writing (which a read-only open finds, and a
    new file gets past)."""
    try:
        recorded = json.loads(_shape_file(target).read_text(encoding="utf-8"))
        if recorded != {"shape": shape, "file": file_stamp(target)}:
            return False
    except (OSError, ValueError):
        return False
    if wal_of(target).exists():
        return False
    try:
        duckdb.connect(str(target), read_only=True).close()
    except duckdb.Error:
        return False
    return True


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
    """``main.<name>``: a new version ``<name>/<version>.parquet``, and its descriptions."""
    versions = folder / table.name
    versions.mkdir(parents=True, exist_ok=True)
    about = {"description": table.description, "columns": dict(table.column_descriptions)}
    side = folder / f".{table.name}.{os.getpid()}.json.tmp"
    side.write_text(json.dumps(about, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(side, folder / f"{table.name}.json")
    name = version_name()
    tmp = versions / f"{name}.{os.getpid()}.tmp"  # not *.parquet: no view lists it
    with duckdb.connect() as con:
        columns = ", ".join(f"{_quote(n)} {t}" for n, t in table.columns)
        con.execute(f"create table t ({columns})")
        if table.rows:
            _insert(con, "t", list(table.rows))
        con.execute(f"copy t to {_text(str(tmp))} (format parquet)")
    os.replace(tmp, versions / f"{name}.parquet")
    remove_old(sorted(versions.glob("*.parquet")), KEEP_VERSIONS)


def _main_tables(folder: Path) -> dict[str, dict]:
    """name -> its descriptions, for each table of main that has a version."""
    out = {}
    if not folder.is_dir():
        return out
    for versions in sorted(p for p in folder.iterdir() if p.is_dir()):
        if newest(versions, ".parquet") is None:
            continue
        about = folder / f"{versions.name}.json"
        out[versions.name] = (
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
            if newest(folder / name, ".parquet") is not None:
                continue
            (folder / name).mkdir(parents=True, exist_ok=True)
            version = version_name()
            tmp = folder / name / f"{version}.{os.getpid()}.tmp"
            con.execute(f"copy live.main.{_quote(name)} to {_text(str(tmp))} (format parquet)")
            about = {"description": comment or "", "columns": {}}
            (folder / f"{name}.json").write_text(json.dumps(about, ensure_ascii=False))
            os.replace(tmp, folder / name / f"{version}.parquet")
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


def _newest_of(pattern: str, columns: Sequence[str], where: str = "", extra: str = "") -> str:
    """The query of a view over the newest file that ``pattern`` matches (the newest sorts
    first). ``glob()`` comes first in the join: the file it picks is then in the list
    ``read_parquet`` makes after it, and ``read_parquet`` opens only that file (the join's
    filter prunes the others). A night that goes live while the query is planned is read by
    the next query; no file it lists is ever changed."""
    glob = _text(pattern)
    return (
        f"select {_select(columns)}{extra} from "
        f"(select min(file) as newest_file from glob({glob})) "
        f"as newest, read_parquet({glob}, filename = true) as t "
        f"where t.filename = newest.newest_file{where}"
    )


def relations(
    settings: Settings, con: duckdb.DuckDBPyConnection, night: Path | None
) -> list[Relation]:
    """The views of the serving file over ``night``'s tables (they read whichever night is
    newest when a query starts) and main's tables."""
    root = published_dir(settings)
    out: list[Relation] = []
    if night is not None:
        present = [u for u in publication_units(default_tree()) if (night / u).is_dir()]
        for unit in present:
            for parquet in sorted((night / unit).glob("*.parquet")):
                columns = _parquet_columns(con, parquet)
                pattern = str(root / NIGHTS / VERSIONS / unit / parquet.name)
                out.append(Relation(unit, parquet.stem, columns, _newest_of(pattern, columns)))
                if parquet.stem == "kpi_vs_target":
                    out += _pace_views(unit, columns, pattern)
    main = main_dir(settings)
    for name in _main_tables(main):
        version = newest(main / name, ".parquet")
        assert version is not None
        columns = _parquet_columns(con, version)
        pattern = str(main / name / f"{VERSIONS}.parquet")
        out.append(Relation("main", name, columns, _newest_of(pattern, columns)))
    return out


def _pace_views(unit: str, columns: tuple[str, ...], pattern: str) -> list[Relation]:
    """The newest as-of day of each team (``*_latest``), and the shared unit's mid-month
    check. Each reads its file once (a window, not a self-join), so it sees one night."""
    cols = _select(columns)

    def latest(where: str) -> str:
        newest_day = ", max(as_of_day) over (partition by team) as newest_as_of_day"
        scan = _newest_of(pattern, columns, where, newest_day)
        return f"select {cols} from ({scan}) as pace where as_of_day = newest_as_of_day"

    views = [Relation(unit, f"kpi_vs_target{LATEST}", columns, latest(""))]
    if unit == SHARED_UNIT:
        check = " and is_mid_month_check"
        views += [
            Relation(unit, "mid_month_check", columns, _newest_of(pattern, columns, check)),
            Relation(unit, f"mid_month_check{LATEST}", columns, latest(check)),
        ]
    assert {v.name.removesuffix(LATEST) for v in views} <= set(PACE_TABLES)
    return views


DICTIONARY = (SHARED_UNIT, "data_dictionary")


@dataclass(frozen=True)
class _Plan:
    """What a serving file holds: its views, the data dictionary, and a digest of both (with
    the storage version and DuckDB's), the same for two files that would be the same."""

    views: list[Relation]
    dictionary: list[dict[str, str]]
    shape: str


def _plan(settings: Settings, night: Path | None) -> _Plan:
    with duckdb.connect() as con:
        views = relations(settings, con, night)
    dictionary = _dictionary_rows(settings, views)
    made = [settings.serving.storage_version, duckdb.__version__, [asdict(v) for v in views]]
    text = json.dumps([*made, dictionary], ensure_ascii=False, sort_keys=True)
    return _Plan(views, dictionary, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _build(settings: Settings, path: Path, plan: _Plan) -> None:
    """Write the serving file ``plan`` describes into ``path``."""
    version = settings.serving.storage_version
    views, dictionary = plan.views, plan.dictionary
    con = duckdb.connect()
    try:
        try:
            con.execute(f"attach {_text(str(path))} as serving (storage_version {_text(version)})")
        except duckdb.InvalidInputException as err:
            raise ServingError(
                f"kpi.yaml serving.storage_version: {err}. Give a version this DuckDB "
                f"({duckdb.__version__}) knows."
            ) from None
        con.execute("use serving")
        # one transaction: each statement on its own would commit, and sync the file, once
        # (a comment per column: hundreds of syncs of a file nobody reads until it is whole)
        con.execute("begin transaction")
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
        con.execute("commit")
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


def reads_elsewhere(settings: Settings) -> str | None:
    """The published folder the live file's views read, when it is not this data folder's
    (the data folder was moved or copied: the views name their Parquet by absolute path)."""
    path = serving_db(settings)
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            found = con.execute(
                "select sql from duckdb_views() where not internal "
                "and contains(sql, 'read_parquet(') limit 1"
            ).fetchall()
    except duckdb.Error:
        return None
    if not found:
        return None
    named = re.search(r"read_parquet\(\s*'((?:[^']|'')*)'", found[0][0])
    if named is None:
        return None
    pattern = Path(named[1].replace("''", "'"))
    # the published folder: the part before the nights (or main's versions)
    folder = next((p.parent for p in pattern.parents if p.name in (NIGHTS, MAIN)), pattern)
    root = published_dir(settings)
    return None if folder.is_relative_to(root) else str(folder)


def describe_night(settings: Settings) -> dict | None:
    """The record of the night being served (its run, and where each unit came from)."""
    night = current_night(settings)
    record = night / "night.json" if night else None
    return json.loads(record.read_text(encoding="utf-8")) if record and record.exists() else None
