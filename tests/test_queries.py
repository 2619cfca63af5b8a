"""The queries every domain repeats (pipelines/queries.py), on a real DuckDB database."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipelines.queries import records, table_exists


def test_table_exists_sees_tables_and_views_in_their_schema_only():
    with duckdb.connect() as con:
        con.execute("create schema kpi; create table kpi.values_ (day date, value double)")
        con.execute("create view main.latest as select * from kpi.values_")
        assert table_exists(con, "kpi", "values_")
        assert table_exists(con, "main", "latest")
        assert not table_exists(con, "main", "values_")
        assert not table_exists(con, "kpi", "latest")
        assert not table_exists(con, "nowhere", "values_")


def test_records_are_rows_by_column_name():
    with duckdb.connect() as con:
        con.execute("create table t (day date, kpi varchar, value double)")
        con.execute("insert into t values ('2025-03-01', 'gmv', 12.5), ('2025-03-02', 'gmv', null)")
        got = records(con, "select * from t where kpi = ? order by day", ["gmv"])
        assert records(con, "select * from t where kpi = 'none'") == []
    assert got == [
        {"day": dt.date(2025, 3, 1), "kpi": "gmv", "value": 12.5},
        {"day": dt.date(2025, 3, 2), "kpi": "gmv", "value": None},
    ]
