"""Read-only summaries of what ingestion did, for the CLI and the tests."""

from __future__ import annotations

import duckdb

from pipelines.ingest.contracts import SOURCES
from pipelines.ingest.load import LEDGER, QUARANTINE, RAW_SCHEMA
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
    where, params = ("where source = ?", [source]) if source else ("", [])
    return con.execute(
        f"select source, file, row_number, column_name, check_name, value from {QUARANTINE} "
        f"{where} order by partition_date, file, row_number limit ?",
        [*params, limit],
    ).fetchall()
