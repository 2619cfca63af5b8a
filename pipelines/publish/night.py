"""One swap per night: every unit that passed goes live at once, and the log says so after.

* Each ``publish/<unit>`` step whose gate passed **stages** the unit: its tables as Parquet in
  ``published/.staging/<run>/<unit>/`` and its publication log entry beside them. Nothing a
  reader sees changes.
* The ``serving`` step, after every unit's step, **puts the night together** in a new folder
  ``published/.nights/<night>/``: the staged units, and every other unit's last good
  publication (held back, skipped, or not run) linked from the night before, so a held-back
  unit keeps what it had. The tree-wide ``kpi_tree/kpi_values`` and ``kpi_vs_target`` are
  put together from the teams' files of the night.
* It **swaps** ``published/current`` to the new night (one rename: every unit at once, never
  some teams from one night and some from another), builds the serving file for it
  (``pipelines/publish/serving.py``), and only then logs the units ``published``.

A journal (``published/_publishing.json``) is written before the swap and removed once the
log says what happened. A publish that fails midway is rolled back (``current`` back to the
night before) and logged ``failed`` with the reason. One killed midway cannot log anything:
the next run finds its journal, logs its units ``failed`` with what had happened, and repairs
it: a night that was swapped in is completed (its serving file built) and logged published,
naming the repair; one that was not is removed. The Parquet and the serving file are never
at different nights: the serving file's views read the very files of ``current``.
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
    PUBLISHED,
    LogEntry,
    append_log,
    assemble_serving,
    current_night,
    now_utc,
    published_dir,
)
from pipelines.publish.tables import PER_TEAM, published_columns, unit_tables
from pipelines.settings import Settings

STAGING = ".staging"
JOURNAL = "_publishing.json"
RECORD = "night.json"
#: nights kept, the one served included (a reader mid-query on an older one keeps its files
#: open; these are for looking back)
KEEP_NIGHTS = 3
#: another run's staging older than this is what a run that ended early left
STALE_STAGING = dt.timedelta(days=1)


class PublishError(RuntimeError):
    """The night could not be published; its units are logged failed with the reason."""


def staging_dir(settings: Settings, run_id: str) -> Path:
    return published_dir(settings) / STAGING / run_id


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
    try:
        night = _compose(settings, run_id, staged, previous)
    except Exception as exc:
        _fail(settings, staged, f"the night could not be put together: {exc}")
        raise PublishError(
            f"nothing published: the night could not be put together: {exc}"
        ) from exc
    _write_journal(settings, run_id, night, previous, staged)
    try:
        _swap(root, night)
        _link_units(root, night)
        assemble_serving(settings, report=note)
    except Exception as exc:
        _swap(root, previous)  # the night before stays, Parquet and serving file alike
        reason = f"the night could not be put in place: {type(exc).__name__}: {exc}"
        _fail(settings, staged, reason)
        (root / JOURNAL).unlink(missing_ok=True)
        shutil.rmtree(night, ignore_errors=True)
        with contextlib.suppress(Exception):  # the failure to report is the first one
            assemble_serving(settings)
        raise PublishError(f"{', '.join(staged)} not published: {reason}") from exc
    at = now_utc()
    for entry in staged.values():
        append_log(settings, LogEntry(**{**entry, "published_at": at, "notes": notes}))
    (root / JOURNAL).unlink(missing_ok=True)
    assemble_serving(settings)  # with the log that says so
    shutil.rmtree(staging_dir(settings, run_id), ignore_errors=True)
    _prune(root, night)
    return Night(night.name, list(staged), repaired, notes)


def _fail(settings: Settings, entries: dict[str, dict], reason: str) -> None:
    at = now_utc()
    for entry in entries.values():
        append_log(
            settings, LogEntry(**{**entry, "status": FAILED, "published_at": at, "notes": [reason]})
        )


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
    name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{run_id[:8]}"
    nights = root / NIGHTS
    partial = nights / f".{name}.partial"
    partial.mkdir(parents=True)
    earlier = _record(previous) if previous else {"units": {}}
    units = {}
    for unit in publication_units(default_tree()):
        if unit in staged:
            os.replace(staging_dir(settings, run_id) / unit, partial / unit)
            units[unit] = {"run_id": run_id, "data_as_of": staged[unit]["data_as_of"]}
            continue
        source = _last_good(root, previous, unit)
        if source is None:
            continue  # never published (skipped, or not yet)
        (partial / unit).mkdir()
        for parquet in source.glob("*.parquet"):
            if unit == SHARED_UNIT and parquet.stem in PER_TEAM:
                continue  # put together again below, from this night's teams
            _link_or_copy(parquet, partial / unit / parquet.name)
        units[unit] = earlier["units"].get(unit, {"run_id": None, "data_as_of": None})
    _shared_tables(partial)
    record = {"night": name, "run_id": run_id, "units": units}
    (partial / RECORD).write_text(json.dumps(record, indent=1), encoding="utf-8")
    night = nights / name
    os.replace(partial, night)
    return night


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


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _record(night: Path) -> dict:
    path = night / RECORD
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"units": {}}


def _swap(root: Path, night: Path | None) -> None:
    """Point ``current`` at ``night`` in one rename (None: serve no night)."""
    link = root / CURRENT
    if night is None:
        link.unlink(missing_ok=True)
        return
    tmp = root / f".{CURRENT}.{os.getpid()}.link"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(night.relative_to(root))
    os.replace(tmp, link)


def _link_units(root: Path, night: Path) -> None:
    """``published/<unit>`` -> ``current/<unit>``, for the tools that read the Parquet."""
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


def _prune(root: Path, keep: Path) -> None:
    nights = sorted(p for p in (root / NIGHTS).iterdir() if p.is_dir() and p.name[0] != ".")
    for old in nights[:-KEEP_NIGHTS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(root / ".versions", ignore_errors=True)  # the layout before nights


def _remove_leftovers(settings: Settings, run_id: str) -> None:
    """What runs that ended early left: a night half put together, staging of old runs."""
    root = published_dir(settings)
    for partial in (root / NIGHTS).glob(".*.partial") if (root / NIGHTS).exists() else ():
        shutil.rmtree(partial, ignore_errors=True)
    staging = root / STAGING
    if not staging.exists():
        return
    cutoff = dt.datetime.now().timestamp() - STALE_STAGING.total_seconds()
    for folder in staging.iterdir():
        if folder.name != run_id and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


# ---- the journal, and the repair of a publish that was killed ---------------------------


def _write_journal(
    settings: Settings, run_id: str, night: Path, previous: Path | None, staged: dict[str, dict]
) -> None:
    root = published_dir(settings)
    journal = {
        "run_id": run_id,
        "night": night.name,
        "previous": previous.name if previous else None,
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
    swapped = current_night(settings) == night.resolve()
    units = [e["unit"] for e in journal["entries"]]
    what = (
        f"the publish of run {journal['run_id']} stopped after its night {journal['night']} was "
        "swapped in, before it was recorded"
        if swapped
        else f"the publish of run {journal['run_id']} stopped before its night was swapped in: "
        "nothing of it was published"
    )
    at = now_utc()
    for entry in journal["entries"]:
        notes = [f"{what} (found by run {run_id})"]
        append_log(
            settings, LogEntry(**{**entry, "status": FAILED, "published_at": at, "notes": notes})
        )
    if swapped:  # its Parquet is live: complete the serving file, then say so
        _link_units(root, night)
        assemble_serving(settings, report=note)
        at = now_utc()
        done = f"repaired by run {run_id}: night {journal['night']} is served, Parquet and file"
        for entry in journal["entries"]:
            append_log(
                settings,
                LogEntry(**{**entry, "status": PUBLISHED, "published_at": at, "notes": [done]}),
            )
    else:
        shutil.rmtree(night, ignore_errors=True)
    (root / JOURNAL).unlink(missing_ok=True)
    note(f"{what}; {'repaired' if swapped else 'cleared'} for {', '.join(units)}")
    return units if swapped else []
