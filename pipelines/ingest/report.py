"""Read-only summaries of what ingestion did, for the CLI and the tests."""

from __future__ import annotations

import duckdb

from pipelines.ingest.contracts import SOURCES
from pipelines.ingest.load import LEDGER, QUARANTINE, RAW_SCHEMA
from pipelines.ingest.validate import FILE_COLUMN
from pipelines.queries import table_exists


def ingest_summary(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """One row per source: days, rows loaded and quarantined, files by status."""
    out = []
    for source in SOURCES:
        if not table_exists(con, RAW_SCHEMA, source):
            continue
        loaded, first, last = con.execute(
            "select count(*), min(_partition_date), max(_partition_date) "
            f"from {RAW_SCHEMA}.{source}"
        ).fetchall()[0]
        (quarantined_rows,) = con.execute(
            f"select count(*) from (select distinct file, row_number from {QUARANTINE} "
            "where source = ?)",
            [source],
        ).fetchall()[0]
        files = dict(
            con.execute(
                f"select status, count(*) from {LEDGER} where source = ? group by status",
                [source],
            ).fetchall()
        )
        out.append(
            {
                "source": source,
                "first_day": first,
                "last_day": last,
                "rows_loaded": loaded,
                "rows_quarantined": quarantined_rows,
                "files_loaded": files.get("loaded", 0),
                "files_duplicate": files.get("duplicate", 0),
                "files_rejected": files.get("rejected", 0),
                "files_empty": files.get("empty", 0),
            }
        )
    return out


def quarantine_reasons(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(source, column, check, rows) for every kind of quarantined row."""
    return con.execute(
        f"select source, column_name, check_name, count(distinct (file, row_number)) as n "
        f"from {QUARANTINE} group by all order by source, n desc, column_name"
    ).fetchall()


def quarantine_rows(
    con: duckdb.DuckDBPyConnection, source: str | None = None, limit: int = 20
) -> list[tuple]:
    """(source, file, row, column, check, value) of the first ``limit`` quarantined rows; the
    column is ours, with the file's own name for it after it where the file has another
    (``amount (金额)``)."""
    where, params = ("where source = ?", [source]) if source else ("", [])
    has_file_column = con.execute(
        "select count(*) from information_schema.columns "
        "where table_schema = ? and table_name = ? and column_name = ?",
        [RAW_SCHEMA, QUARANTINE.split(".")[1], FILE_COLUMN],
    ).fetchall()[0][0]
    # a warehouse built before the file's names were kept has no such column until its next load
    column = (
        f"case when {FILE_COLUMN} is null then column_name "
        f"else column_name || ' (' || {FILE_COLUMN} || ')' end"
        if has_file_column
        else "column_name"
    )
    return con.execute(
        f"select source, file, row_number, {column}, check_name, value from {QUARANTINE} "
        f"{where} order by partition_date, file, row_number limit ?",
        [*params, limit],
    ).fetchall()


def empty_files(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(source, delivery day, file) of every delivered file without rows (a header at most),
    which ingestion did not count as a delivery."""
    if not table_exists(con, RAW_SCHEMA, LEDGER.split(".")[1]):
        return []
    return con.execute(
        f"select source, partition_date, file from {LEDGER} where status = 'empty' "
        "order by partition_date, source, file"
    ).fetchall()
