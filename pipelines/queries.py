"""The queries every domain repeats against a warehouse (the build or the serving DuckDB
file): whether a table is there yet, a query's rows by column name, and which KPIs the shop
can compute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from kpi_tree.availability import AVAILABILITY_TABLE, COLUMNS, Availability, from_rows


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` (a table or a view) exists in the database ``con`` opened."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def records(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts keyed by column name."""
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def kpi_availability(
    con: duckdb.DuckDBPyConnection,
    schema: str = AVAILABILITY_TABLE.schema,
    table: str = AVAILABILITY_TABLE.name,
) -> dict[str, Availability]:
    """KPI id -> whether the shop can compute it and why not (the build's
    ``kpi.fct_kpi_availability``, or its published copy ``kpi_tree.kpi_availability``); empty
    when the table is not there (built before it was), which counts every KPI available."""
    if not table_exists(con, schema, table):
        return {}
    return from_rows(con.execute(f"select {', '.join(COLUMNS)} from {schema}.{table}").fetchall())
