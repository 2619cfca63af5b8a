"""One swap per night: every unit that passed goes live at once, and the log says so after.

* Each ``publish/<unit>`` step whose gate passed **stages** the unit: its tables as Parquet in
  ``published/.staging/<run>/<unit>/`` and its publication log entry beside them. Nothing a
  reader sees changes.
* The ``serving`` step, after every unit's step, **puts the night together** in
  ``published/.building/<night>/``: the staged units, and every other unit's last good
  publication (held back, skipped, or not run) linked from the night before, so a held-back
  unit keeps what it had. The tree-wide ``kpi_tree/kpi_values`` and ``kpi_vs_target`` are
  put together from the teams' files of the night. It builds the serving file for it aside
  (``pipelines/publish/serving.py``), so that a serving file that cannot be built stops the
  night before anything is visible.
* It **swaps**: one rename moves the complete night into ``published/.nights/``, where it is
  the newest, so every view reads it from the next query on: every unit at once, never some
  teams from one night and some from another. Then the serving file is put in place, the
  ``published/current`` link follows (for the tools that read the files), and only then are
  the units logged ``published``.

A journal (``published/_publishing.json``) is written before the swap and removed once the
log says what happened. A swap that fails after the night went live (the serving file could
not be put in place) takes the night back out, and its units are logged ``failed`` with the
reason. A publish killed midway cannot log anything: the next run finds its journal, logs
its units ``failed`` with what had happened, and repairs it: a night that went live is
completed (its serving file put in place) and logged published, naming the repair; one that
did not is removed. The Parquet and the serving file are never at different nights: the
serving file's views read the very files of the newest night.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from kpi_tree.model import Tree, default_tree
from kpi_tree.units import SHARED_UNIT, publication_units, team_units
from pipelines.publish.serving import (
    CURRENT,
    FAILED,
    NIGHTS,
    PENDING,
    PUBLISHED,
    LogEntry,
    append_log,
    assemble_serving,
    build_serving,
    current_night,
    discard,
    now_utc,
    published_dir,
    put_in_place,
    remove_old,
    version_name,
    write_log_table,
)
from pipelines.publish.tables import PER_TEAM, published_columns, unit_tables
from pipelines.settings import Settings

STAGING = ".staging"
BUILDING = ".building"
JOURNAL = "_publishing.json"
RECORD = "night.json"
#: nights kept, the one served included
KEEP_NIGHTS = 3
#: another run's staging older than this is what a run that ended early left
STALE_STAGING = dt.timedelta(days=1)


class PublishError(RuntimeError):
    """The night could not be published; its units are logged failed with the reason."""


def staging_dir(settings: Settings, run_id: str) -> Path:
    return published_dir(settings) / STAGING / run_id


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def stage_unit(
    build: duckdb.DuckDBPyConnection, settings: Settings, tree: Tree, unit: str, run_id: str
) -> dict[str, int]:
    """Export the unit's tables, as BI reads them (``pipelines/publish/tables.py``), to its
    staging folder; rows per table."""
    folder = staging_dir(settings, run_id) / unit
    shutil.rmtree(folder, ignore_errors=True)  # a retried step starts over
    folder.mkdir(parents=True)
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = {}
    for table, query in unit_tables(tree, unit).items():
        columns = [r[0] for r in build.execute(f"describe {query}").fetchall()]
        select = ", ".join(published_columns(tree, unit, table, columns))
        target = _text(str(folder / f"{table}.parquet"))
        build.execute(
            f"copy (select {select}, ? as _published_run_id, ?::timestamp as _published_at "
            f"from ({query})) to {target} (format parquet)",
            [run_id, published_at],
        )
        rows[table] = build.execute(f"select count(*) from ({query})").fetchall()[0][0]
    return rows


def stage_entry(settings: Settings, entry: LogEntry) -> None:
    """The staged unit's log entry, written by the serving step once its night is live."""
    path = staging_dir(settings, entry.run_id) / f"{entry.unit}.json"
    path.write_text(json.dumps(asdict(entry), ensure_ascii=False), encoding="utf-8")


def _staged(settings: Settings, run_id: str) -> dict[str, dict]:
    folder = staging_dir(settings, run_id)
    return {
        unit: json.loads((folder / f"{unit}.json").read_text(encoding="utf-8"))
        for unit in publication_units(default_tree())
        if (folder / f"{unit}.json").exists() and (folder / unit).is_dir()
    }


@dataclass
class Night:
    """What the serving step did."""

    night: str | None  # the night it put in place (None: no unit passed)
    published: list[str] = field(default_factory=list)
    #: units of an interrupted earlier publish, completed and logged
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def publish_night(
    settings: Settings, run_id: str, report: Callable[[str], None] | None = None
) -> Night:
    """Put the run's staged units in place as one night (see the module's doc)."""
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if report:
            report(text)

    root = published_dir(settings)
    repaired = _repair(settings, run_id, note)
    _remove_leftovers(settings, run_id)
    staged = _staged(settings, run_id)
    if not staged:  # nothing passed: the serving file shows the log as it now is
        assemble_serving(settings, report=note)
        return Night(None, [], repaired, notes)
    previous = current_night(settings)
    building = pending = None
    try:
        building = _compose(settings, run_id, staged, previous)
        # the views are created against the night's files, where they will be read, under a
        # name no live view picks over a live night (serving.PENDING)
        pending = root / NIGHTS / f"{PENDING}-{building.name}"
        pending.parent.mkdir(parents=True, exist_ok=True)
        os.replace(building, pending)
        # the log's table first: the file built now then has every view the one after the
        # log is written would have, and that one is not built again
        write_log_table(settings)
        serving_file = build_serving(settings, pending)
    except Exception as exc:
        for folder in (building, pending):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        reason = f"the night could not be put together: {type(exc).__name__}: {exc}"
        _fail(settings, staged, reason)
        with contextlib.suppress(Exception):  # the log as it now is; the error is the first
            assemble_serving(settings)
        raise PublishError(f"{', '.join(staged)} not published: {reason}") from exc
    night = root / NIGHTS / building.name
    _write_journal(settings, run_id, night, staged)
    os.replace(pending, night)  # the swap: the newest night, read by every next query
    try:
        notes_found = put_in_place(settings, serving_file, note)
    except Exception as exc:
        _take_back(night)  # the night before is the newest again, Parquet and file alike
        discard(serving_file)
        reason = f"the serving file could not be put in place: {type(exc).__name__}: {exc}"
        _fail(settings, staged, reason)
        (root / JOURNAL).unlink(missing_ok=True)
        raise PublishError(f"{', '.join(staged)} not published: {reason}") from exc
    _link_current(root, night)
    at = now_utc()
    for entry in staged.values():
        append_log(settings, LogEntry(**{**entry, "published_at": at, "notes": notes_found}))
    (root / JOURNAL).unlink(missing_ok=True)
    assemble_serving(settings)  # with the log that says so
    shutil.rmtree(staging_dir(settings, run_id), ignore_errors=True)
    _prune(root)
    return Night(night.name, list(staged), repaired, notes)


def _fail(settings: Settings, entries: dict[str, dict], reason: str) -> None:
    at = now_utc()
    for entry in entries.values():
        append_log(
            settings, LogEntry(**{**entry, "status": FAILED, "published_at": at, "notes": [reason]})
        )


def _take_back(night: Path) -> None:
    """Take a night that went live back out of the nights (gone from the views at once)."""
    trash = night.with_name(f".{night.name}.removed")
    os.replace(night, trash)
    shutil.rmtree(trash, ignore_errors=True)


# ---- the night's folder -----------------------------------------------------------------


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # a night's files are never written again: share them
    except OSError:
        shutil.copy2(source, target)


def _compose(
    settings: Settings, run_id: str, staged: dict[str, dict], previous: Path | None
) -> Path:
    root = published_dir(settings)
    building = root / BUILDING / version_name(run_id)
    building.mkdir(parents=True)
    earlier = _record(previous) if previous else {"units": {}}
    units = {}
    for unit in publication_units(default_tree()):
        if unit in staged:
            os.replace(staging_dir(settings, run_id) / unit, building / unit)
            units[unit] = {"run_id": run_id, "data_as_of": staged[unit]["data_as_of"]}
            continue
        source = _last_good(root, previous, unit)
        if source is None:
            continue  # never published (skipped, or not yet)
        (building / unit).mkdir()
        for parquet in source.glob("*.parquet"):
            if unit == SHARED_UNIT and parquet.stem in PER_TEAM:
                continue  # put together again below, from this night's teams
            _link_or_copy(parquet, building / unit / parquet.name)
        units[unit] = earlier["units"].get(unit, {"run_id": None, "data_as_of": None})
    _shared_tables(building)
    record = {"night": building.name, "run_id": run_id, "made_at": now_utc(), "units": units}
    (building / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")
    return building


def _last_good(root: Path, previous: Path | None, unit: str) -> Path | None:
    if previous is not None:
        return previous / unit if (previous / unit).is_dir() else None
    # the layout before nights: published/<unit> linked to its own version folder
    legacy = root / unit
    return legacy.resolve() if legacy.is_dir() else None


def _shared_tables(night: Path) -> None:
    """The shared unit's tree-wide tables: every team's file of the night, in one file."""
    teams = [u for u in team_units(default_tree()) if (night / u).is_dir()]
    (night / SHARED_UNIT).mkdir(exist_ok=True)
    with duckdb.connect() as con:
        for table in PER_TEAM:
            files = [night / t / f"{table}.parquet" for t in teams]
            files = [_text(str(f)) for f in files if f.exists()]
            if files:
                target = _text(str(night / SHARED_UNIT / f"{table}.parquet"))
                con.execute(
                    f"copy (select * from read_parquet([{', '.join(files)}], union_by_name = "
                    f"true)) to {target} (format parquet)"
                )


def _record(night: Path) -> dict:
    path = night / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"units": {}}


def _link_current(root: Path, night: Path) -> None:
    """``current`` -> the newest night, and ``<unit>`` -> ``current/<unit>``: the paths the
    tools that read the Parquet files use (one rename each)."""
    tmp = root / f".{CURRENT}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(night.relative_to(root))
    if (root / CURRENT).is_dir() and not (root / CURRENT).is_symlink():
        shutil.rmtree(root / CURRENT)  # a plain folder: the data folder copied without links
    os.replace(tmp, root / CURRENT)
    for unit in publication_units(default_tree()):
        link = root / unit
        want = Path(CURRENT) / unit
        if not (night / unit).is_dir():
            if link.is_symlink():
                link.unlink()
            continue
        if link.is_symlink() and Path(os.readlink(link)) == want:
            continue
        tmp = root / f".{unit}.{os.getpid()}.link"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(want)
        if link.exists() and not link.is_symlink():  # a plain folder from elsewhere
            shutil.rmtree(link)
        os.replace(tmp, link)


def _prune(root: Path) -> None:
    nights = sorted(
        p
        for p in (root / NIGHTS).iterdir()
        if p.is_dir() and p.name[0].isdigit() and not p.name.startswith(PENDING)
    )
    remove_old(nights, KEEP_NIGHTS)
    shutil.rmtree(root / ".versions", ignore_errors=True)  # the layout before nights


def _remove_leftovers(settings: Settings, run_id: str) -> None:
    """What runs that ended early left: nights half put together, staging of old runs."""
    root = published_dir(settings)
    shutil.rmtree(root / BUILDING, ignore_errors=True)
    for pending in (root / NIGHTS).glob(f"{PENDING}-*") if (root / NIGHTS).exists() else ():
        shutil.rmtree(pending, ignore_errors=True)
    for removed in (root / NIGHTS).glob(".*.removed") if (root / NIGHTS).exists() else ():
        shutil.rmtree(removed, ignore_errors=True)
    staging = root / STAGING
    if not staging.exists():
        return
    cutoff = dt.datetime.now().timestamp() - STALE_STAGING.total_seconds()
    for folder in staging.iterdir():
        if folder.name != run_id and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


# ---- the journal, and the repair of a publish that was killed ---------------------------


def _write_journal(settings: Settings, run_id: str, night: Path, staged: dict[str, dict]) -> None:
    root = published_dir(settings)
    journal = {
        "run_id": run_id,
        "night": night.name,
        "started_at": now_utc(),
        "entries": list(staged.values()),
    }
    tmp = root / f".{JOURNAL}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(journal, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, root / JOURNAL)


def interrupted(settings: Settings) -> dict | None:
    """The journal of a publish in progress, or of one that was killed before it finished."""
    path = published_dir(settings) / JOURNAL
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _repair(settings: Settings, run_id: str, note: Callable[[str], None]) -> list[str]:
    journal = interrupted(settings)
    if journal is None:
        return []
    root = published_dir(settings)
    night = root / NIGHTS / journal["night"]
    live = night.is_dir()
    units = [e["unit"] for e in journal["entries"]]
    what = (
        f"the publish of run {journal['run_id']} stopped after its night {journal['night']} "
        "went live, before it was recorded"
        if live
        else f"the publish of run {journal['run_id']} stopped before its night went live: "
        "nothing of it was published"
    )
    at = now_utc()
    for entry in journal["entries"]:
        notes = [f"{what} (found by run {run_id})"]
        append_log(
            settings, LogEntry(**{**entry, "status": FAILED, "published_at": at, "notes": notes})
        )
    if live:  # its Parquet is what the views read: put its serving file in place, say so
        put_in_place(settings, build_serving(settings, night), note)
        _link_current(root, night)
        at = now_utc()
        done = f"repaired by run {run_id}: night {journal['night']} is served, Parquet and file"
        for entry in journal["entries"]:
            append_log(
                settings,
                LogEntry(**{**entry, "status": PUBLISHED, "published_at": at, "notes": [done]}),
            )
    (root / JOURNAL).unlink(missing_ok=True)
    note(f"{what}; {'repaired' if live else 'cleared'} for {', '.join(units)}")
    return units if live else []
