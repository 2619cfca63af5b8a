"""The validated raw rows handed to Spark (kpi.yaml ``engine: spark``; docs/spark.md).

Ingestion loads and validates into the build DuckDB as always; for Spark, each day it loaded
is then written out as Parquet, one folder per source and delivery day,
``<spark_raw_dir>/<source>/_partition_date=<day>/rows.parquet``, a layout Spark's partition
discovery reads (and DuckDB's ``hive_partitioning``). A day is replaced whole, as the raw
table's partition is: a rerun of a day gives the same files.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb

from pipelines.ingest.load import RAW_SCHEMA

#: the raw tables' partition column: the folder name carries it, the files do not
PARTITION_COLUMN = "_partition_date"
FILE_NAME = "rows.parquet"


def day_folder(raw_dir: Path, source: str, day: dt.date) -> Path:
    return raw_dir / source / f"{PARTITION_COLUMN}={day.isoformat()}"


def export_days(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, source: str, days: Iterable[dt.date]
) -> int:
    """Write ``source``'s raw rows of each of ``days`` as Parquet; return the rows written.
    A day without rows has no folder (a day delivered again empty loses its old one)."""
    written = 0
    for day in days:
        folder = day_folder(raw_dir, source, day)
        (count,) = con.execute(
            f"select count(*) from {RAW_SCHEMA}.{source} where {PARTITION_COLUMN} = ?", [day]
        ).fetchone()
        if not count:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        _write_swapped(
            con,
            folder,
            f"select * exclude ({PARTITION_COLUMN}) from {RAW_SCHEMA}.{source} "
            f"where {PARTITION_COLUMN} = date '{day.isoformat()}' order by _file, _row",
        )
        written += count
    return written


def export_table(con: duckdb.DuckDBPyConnection, folder: Path, relation: str) -> int:
    """Write the whole of ``relation`` (the targets step's tables, small and replaced whole
    each run) as one Parquet file in ``folder``, swapped in as a day is; return its rows.
    JSON columns go as text, the type both engines read."""
    columns = con.execute(f"select * from {relation} limit 0").description
    listed = ", ".join(
        f'cast("{name}" as varchar) as "{name}"' if str(kind).upper() == "JSON" else f'"{name}"'
        for name, kind, *_ in columns
    )
    _write_swapped(con, folder, f"select {listed} from {relation}")
    (count,) = con.execute(f"select count(*) from {relation}").fetchone()
    return count


def _write_swapped(con: duckdb.DuckDBPyConnection, folder: Path, query: str) -> None:
    """Write ``query``'s rows as the one Parquet file of ``folder``: written beside, then
    swapped in, so a reader sees the old folder or the new one, never half of one."""
    staged = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    target = str(staged / FILE_NAME).replace("'", "''")
    con.execute(f"copy ({query}) to '{target}' (format parquet)")
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staged.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
