"""Putting a new serving file in place whatever a BI tool did to the old one.

The serving file is only ever read: the publish step builds a new one aside and renames it
over the live one. A BI tool that opens it read-write anyway (a SQL client's default, a stray
``CREATE TABLE`` in a SQL editor) takes DuckDB's exclusive lock, so no other process can open
the file while it holds it, and its first committed write leaves ``kpi.duckdb.wal`` beside
it. Renamed over, the new file would sit beside that WAL, which is not its own, and DuckDB
then refuses to open it at all ("WAL does not match database file"): every reader, every
later night.

So :func:`install` names every process that holds the live file open for writing (PID,
program, command line: psutil reads what the OS knows of its open files), sets aside any WAL
found beside the live file (it can only be a foreign writer's: the pipeline never opens the
live file read-write), renames the new file in, and sets aside a WAL that appeared meanwhile.
Readers that open the file afresh then open the new one; the writer keeps its old, unlinked
file and its WAL (renamed, the same open file) until it closes.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

#: set-aside WALs kept for whoever wants to see what the foreign writer did
KEEP_SET_ASIDE = 5


@dataclass(frozen=True)
class Holder:
    """A process that holds a file open for writing."""

    pid: int
    name: str
    cmdline: str

    def __str__(self) -> str:
        command = f": {self.cmdline[:160]}" if self.cmdline else ""
        return f"PID {self.pid} ({self.name}{command})"


def writers_of(path: Path) -> list[Holder]:
    """The processes (of those this user may see) that hold ``path`` open for writing."""
    target = os.path.realpath(path)
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if any(f.path == target and getattr(f, "mode", "r+") != "r" for f in proc.open_files()):
                found.append(Holder(proc.pid, proc.info["name"] or "?", " ".join(proc.cmdline())))
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def wal_of(path: Path) -> Path:
    """Where DuckDB keeps the write-ahead log of the database file ``path``."""
    return path.with_name(path.name + ".wal")


def _set_aside(wal: Path) -> Path | None:
    if not wal.exists():
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    aside = wal.with_name(f"{wal.name}.foreign-{stamp}")
    try:
        os.replace(wal, aside)
    except FileNotFoundError:  # its writer closed and removed it meanwhile
        return None
    kept = sorted(wal.parent.glob(f"{wal.name}.foreign-*"))
    for old in kept[:-KEEP_SET_ASIDE]:
        old.unlink(missing_ok=True)
    return aside


def install(new: Path, target: Path) -> list[str]:
    """Rename the finished file ``new`` over ``target``; what was found and done about a
    foreign writer, in words for the run's log and the publication log (empty: nothing)."""
    notes = []
    holders = [h for h in writers_of(target) if h.pid != os.getpid()] if target.exists() else []
    if holders:
        notes.append(
            f"{target} was open read-write by {', '.join(map(str, holders))}; BI tools must "
            "open it read-only. It was replaced all the same: readers that open it afresh get "
            "the new night."
        )
    wal = wal_of(target)
    before = _set_aside(wal)
    os.replace(new, target)
    after = _set_aside(wal)  # a foreign commit between the two renames
    for aside in (before, after):
        if aside is not None:
            notes.append(
                f"A WAL that was not the serving file's own (a foreign writer's) was set aside "
                f"as {aside.name}, so that the new file opens."
            )
    return notes
