"""Dagster resources shared by every domain."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import psutil

from pipelines.settings import Settings, load_settings

#: Every asset that writes the build warehouse runs in this pool; the instance limits it to 1
#: (docs/architecture.md, invariant 1: one writer).
WAREHOUSE_POOL = "duckdb_build"


#: DuckDB's words when another process holds the file's lock
LOCKED = "Could not set lock"
#: ours, in the run's error
LOCKED_WORDS = "is locked by another program"
_PID = re.compile(r"\(PID (\d+)\)")


def lock_holder(error: str) -> str:
    """The process DuckDB names in its lock error: its PID, name and command line (what
    psutil can see of it), else the PID alone, else "another process"."""
    match = _PID.search(error)
    if not match:
        return "another process"
    pid = int(match.group(1))
    try:
        proc = psutil.Process(pid)
        command = " ".join(proc.cmdline())[:160]
        return f"PID {pid} ({proc.name()}{': ' + command if command else ''})"
    except (psutil.Error, OSError):
        return f"PID {pid}"


def locked_words(path: Path, error: str) -> str:
    return (
        f"the build warehouse {path} {LOCKED_WORDS}: {lock_holder(error)}. "
        "Only the nightly run may open it (BI tools read the serving file kpi.duckdb): close "
        "that program, then run the night again."
    )


class Warehouse(dg.ConfigurableResource):
    """The build DuckDB file and the landing folder, found from the data directory."""

    data_dir: str

    def settings(self) -> Settings:
        return load_settings(self.data_dir)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = self.settings()
        path = settings.build_db
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(
                str(path), read_only=read_only, config={"memory_limit": settings.memory_limit}
            )
        except duckdb.IOException as err:
            if LOCKED not in str(err):
                raise
            # another program will not let go within a retry's wait: fail now, say who
            raise dg.Failure(
                description=locked_words(path, str(err)), allow_retries=False
            ) from None
        try:
            yield con
        finally:
            con.close()
