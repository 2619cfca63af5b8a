"""Dagster resources shared by every domain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from pipelines.settings import Settings, load_settings

#: Every asset that writes the build warehouse runs in this pool; the instance limits it to 1
#: (docs/architecture.md, invariant 1: one writer).
WAREHOUSE_POOL = "duckdb_build"


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
        con = duckdb.connect(
            str(path), read_only=read_only, config={"memory_limit": settings.memory_limit}
        )
        try:
            yield con
        finally:
            con.close()
