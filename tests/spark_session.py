"""What Spark itself returns for the views of a schema in the warehouse a Spark run built: a
local Spark session with the `spark` target's settings (dbt_project/profiles.yml, rendered by
dbt as dbt-spark's session mode reads them), in a process of its own. Its Derby metastore is
embedded and admits one process at a time, held until the JVM exits: so the test process
never starts a JVM of its own that a later dbt on Spark would find holding it.

`spark_views(spark_dir, schema)` runs this file as a script; the script writes the views'
columns and rows (Python values as Spark's collect() gives them: decimals, dates, None) to a
pickle."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

#: a view's columns (name, Spark's type) and its rows
Relation = tuple[list[tuple[str, str]], list[tuple]]


def spark_views(spark_dir: Path, schema: str, timeout: int = 900) -> dict[str, Relation]:
    """Every view of ``schema`` in the Spark warehouse under ``spark_dir`` (the pipeline's
    ``KPI_SPARK_DIR``), as Spark returns it."""
    with tempfile.TemporaryDirectory(prefix="kpi-spark-views-") as folder:
        out = Path(folder) / "views.pickle"
        done = subprocess.run(
            [sys.executable, __file__, str(spark_dir), schema, str(out)],
            env={**os.environ, "KPI_SPARK_DIR": str(spark_dir)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
        with out.open("rb") as f:
            return pickle.load(f)


def _settings() -> dict[str, str]:
    """The `spark` target's server_side_parameters, rendered by dbt from profiles.yml with
    this process's environment (KPI_SPARK_DIR, the sizes)."""
    from dbt.config.profile import read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    from kpi_tree.dbt_export import DBT_PROJECT_DIR

    set_invocation_context(dict(os.environ))
    raw = read_profile(str(DBT_PROJECT_DIR))["kpi_warehouse"]["outputs"]["spark"]
    target = ProfileRenderer({}).render_data(raw)
    return {str(k): str(v) for k, v in target["server_side_parameters"].items()}


def _read(schema: str) -> dict[str, Relation]:
    from pyspark.sql import SparkSession

    # as dbt-spark's session mode builds it (dbt/adapters/spark/session.py)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in _settings().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        out = {}
        for table in spark.catalog.listTables(schema):
            if table.tableType != "VIEW":
                continue
            frame = spark.table(f"`{schema}`.`{table.name}`")
            columns = [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]
            out[table.name] = (columns, [tuple(row) for row in frame.collect()])
        return out
    finally:
        spark.stop()


if __name__ == "__main__":
    _, _spark_dir, _schema, _out = sys.argv
    views = _read(_schema)
    with open(_out, "wb") as f:
        pickle.dump(views, f)
