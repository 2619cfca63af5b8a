"""The raw rows handed to Spark: each loaded day as Parquet in a folder per source and day."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipelines.ingest.spark_raw import day_folder, export_days

D1, D2 = dt.date(2025, 1, 20), dt.date(2025, 1, 21)


def _warehouse(path):
    con = duckdb.connect(str(path))
    con.execute("create schema raw")
    con.execute(
        "create table raw.orders (order_id varchar, amount decimal(18,2), "
        "created_at timestamp, _partition_date date, _file varchar, _row bigint)"
    )
    con.execute(
        """insert into raw.orders values
        ('a', 10.50, '2025-01-20 08:00:00', '2025-01-20', 'f1.csv', 1),
        ('b', 3.25, '2025-01-20 09:30:00', '2025-01-20', 'f1.csv', 2),
        ('c', 7.00, '2025-01-21 23:59:59', '2025-01-21', 'f2.csv', 1)"""
    )
    return con


def _read_back(con, raw_dir):
    return con.execute(
        f"""select order_id, amount, created_at, _partition_date, _file, _row
        from read_parquet('{raw_dir}/orders/*/*.parquet', hive_partitioning = true,
                          hive_types = {{'_partition_date': date}})
        order by order_id"""
    ).fetchall()


def test_each_day_lands_in_its_own_folder_and_reads_back_as_the_raw_rows(tmp_path):
    con = _warehouse(tmp_path / "build.duckdb")
    raw_dir = tmp_path / "spark" / "raw"
    assert export_days(con, raw_dir, "orders", [D1, D2]) == 3
    assert day_folder(raw_dir, "orders", D1).name == "_partition_date=2025-01-20"
    want = con.execute("select * from raw.orders order by order_id").fetchall()
    assert _read_back(con, raw_dir) == want
    # a rerun of the same days writes the same rows, not a second copy
    assert export_days(con, raw_dir, "orders", [D1, D2]) == 3
    assert _read_back(con, raw_dir) == want


def test_a_day_delivered_again_replaces_its_folder_and_an_emptied_day_loses_it(tmp_path):
    con = _warehouse(tmp_path / "build.duckdb")
    raw_dir = tmp_path / "raw"
    export_days(con, raw_dir, "orders", [D1, D2])
    con.execute("delete from raw.orders where _partition_date = '2025-01-20' and order_id = 'a'")
    con.execute("delete from raw.orders where _partition_date = '2025-01-21'")
    assert export_days(con, raw_dir, "orders", [D1, D2]) == 1
    assert [r[0] for r in _read_back(con, raw_dir)] == ["b"]
    assert not day_folder(raw_dir, "orders", D2).exists()
    assert sorted(p.name for p in (raw_dir / "orders").iterdir()) == ["_partition_date=2025-01-20"]
