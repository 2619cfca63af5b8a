"""The read-back of Spark's tables into the build DuckDB, without Spark: Parquet in the layout
session-mode Spark writes (``<schema>.db/<table>/``, a partitioned table's partitions as
``column=value`` folders), replacing the build DuckDB's copies. The real Spark night is
tests/test_spark_night.py (marked spark)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from pipelines.transform.assets import steps_read
from pipelines.transform.project import dbt_project
from pipelines.transform.spark_read_back import Model, ReadBackError, read_back_tables

VALUES = Model("model.kpi_warehouse.fct_kpi_values", "kpi", "fct_kpi_values")
NODES = Model("model.kpi_warehouse.dim_kpi_nodes", "kpi", "dim_kpi_nodes")


def _spark_table(spark_dir: Path, model: Model, query: str, partition_by: str = "") -> None:
    folder = spark_dir / "warehouse" / f"{model.schema}.db" / model.name
    folder.mkdir(parents=True)
    # Spark's file names: part-<n>-<id>.parquet, a partitioned table's under its partitions
    if partition_by:
        to, options = folder, f", partition_by ({partition_by}), overwrite_or_ignore"
    else:
        to, options = folder / "part-00000.snappy.parquet", ""
    with duckdb.connect() as con:
        con.execute(f"copy ({query}) to '{to}' (format parquet{options})")


def test_spark_tables_replace_the_build_copies(tmp_path):
    spark = tmp_path / "spark"
    _spark_table(
        spark,
        VALUES,
        "select * from (values ('gmv', 10.5, 'day', date '2025-01-20'), "
        "('gmv', 11.25, 'day', date '2025-01-21'), ('gmv', 21.75, 'week', date '2025-01-20')) "
        "as t(kpi_id, value, grain, period_start)",
        partition_by="grain, period_start",
    )
    _spark_table(spark, NODES, "select 'gmv' as kpi_id, 'marketing' as team")
    db = tmp_path / "build.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema kpi")
        con.execute("create table kpi.fct_kpi_values as select 'stale' as kpi_id")
        assert read_back_tables(con, spark, [VALUES, NODES]) == 2
        # the partition columns first, as the model has them
        described = con.execute("select * from kpi.fct_kpi_values limit 0").description
        assert [d[0] for d in described] == ["grain", "period_start", "kpi_id", "value"]
        rows = con.execute("select * from kpi.fct_kpi_values order by all").fetchall()
        assert rows == [
            ("day", dt.date(2025, 1, 20), "gmv", 10.5),
            ("day", dt.date(2025, 1, 21), "gmv", 11.25),
            ("week", dt.date(2025, 1, 20), "gmv", 21.75),
        ]
        assert con.execute("select * from kpi.dim_kpi_nodes").fetchall() == [("gmv", "marketing")]


def test_a_table_spark_left_without_files_is_emptied_or_named(tmp_path):
    spark = tmp_path / "spark"
    (spark / "warehouse" / "kpi.db" / "fct_kpi_values").mkdir(parents=True)
    _spark_table(spark, NODES, "select 'gmv' as kpi_id")
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("create schema kpi")
        con.execute("create table kpi.dim_kpi_nodes as select 'old' as kpi_id")
        # no earlier copy to take the columns from: named, and nothing replaced
        with pytest.raises(ReadBackError, match="kpi.fct_kpi_values without rows"):
            read_back_tables(con, spark, [VALUES, NODES])
        assert con.execute("select * from kpi.dim_kpi_nodes").fetchall() == [("old",)]
        # an earlier copy: emptied, its columns kept
        con.execute("create table kpi.fct_kpi_values as select 'gmv' as kpi_id, 1.0 as value")
        assert read_back_tables(con, spark, [VALUES, NODES]) == 2
        assert con.execute("select count(*) from kpi.fct_kpi_values").fetchone() == (0,)
        assert con.execute("select * from kpi.dim_kpi_nodes").fetchall() == [("gmv",)]


def test_an_empty_table_whose_yaml_declares_its_columns_is_created_with_them(tmp_path):
    """A table partitioned on Spark with no rows yet (the development of mature cohorts, in a
    shop's first month) and no earlier copy: created empty with the columns its YAML declares."""
    spark = tmp_path / "spark"
    (spark / "warehouse" / "intermediate.db" / "int_shipment_development").mkdir(parents=True)
    declared = (("cohort_date", "date"), ("change", "decimal(38, 6)"), ("row_count", "bigint"))
    model = Model(
        "model.kpi_warehouse.int_shipment_development",
        "intermediate",
        "int_shipment_development",
        declared,
    )
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        assert read_back_tables(con, spark, [model]) == 1
        described = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_name = 'int_shipment_development' order by ordinal_position"
        ).fetchall()
        assert described == [
            ("cohort_date", "DATE"),
            ("change", "DECIMAL(38,6)"),
            ("row_count", "BIGINT"),
        ]
        assert con.execute(
            "select count(*) from intermediate.int_shipment_development"
        ).fetchone() == (0,)


def test_the_development_declares_every_column_it_builds():
    """int_shipment_development is empty on Spark until a cohort matures: its YAML declares
    its columns' types (the read-back creates it from them), each column the model has."""
    manifest = json.loads(Path(dbt_project().manifest_path).read_text(encoding="utf-8"))
    node = manifest["nodes"]["model.kpi_warehouse.int_shipment_development"]
    declared = [c["name"] for c in node["columns"].values() if c.get("data_type")]
    assert declared == [
        "cohort_date",
        "dimension",
        "member",
        "measure_id",
        "age",
        "change",
        "row_count",
        "delivered_on",
    ]


def test_a_selection_on_spark_builds_the_steps_its_models_read():
    """The steps (kpi_step(): ephemeral in DuckDB's manifest, which Dagster's graph is, and
    tables on Spark) that a model reads, directly or through another step: what a Dagster run
    of a subset adds to dbt's selection on Spark (tests/test_spark_night.py runs one)."""
    manifest = json.loads(Path(dbt_project().manifest_path).read_text(encoding="utf-8"))
    uid = "model.kpi_warehouse.{}".format
    # fct_kpi_expected reads the periods' sums, which read the days' parts
    assert steps_read(manifest, {uid("fct_kpi_expected")}) == [
        "int_kpi_expected_parts",
        "int_kpi_expected_periods",
    ]
    # the completion pattern reads the development, a table of its own
    assert steps_read(manifest, {uid("fct_completion_factors")}) == []
    both = {uid("fct_kpi_expected"), uid("fct_completion_factors")}
    assert len(steps_read(manifest, both)) == 2
    # a model reading those two only as tables (assets of their own) reads no step
    assert steps_read(manifest, {uid("fct_kpi_values")}) == []
