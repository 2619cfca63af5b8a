"""Spark's tables read back into the build DuckDB (kpi.yaml ``engine: spark``; docs/spark.md).

On Spark, dbt builds the tree from the raw Parquet into Spark's warehouse; everything after a
dbt step (the targets step's plan history, the gates, publication, alerts, the board) reads
the build DuckDB, as on the default engine. So after each dbt step the tables it built are
copied from their Parquet (``$KPI_SPARK_DIR/warehouse/<schema>.db/<table>/``) into the build
DuckDB, replacing the previous copies in one transaction: a reader sees the night before or
this one, never half of each. The step's views (the targets' staging, the mid-month check,
the semantic layer) hold no rows on Spark; dbt creates them on the build DuckDB over the
tables read back, from the same SQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.resources import Warehouse
from pipelines.settings import Settings
from pipelines.transform.project import dbt_executable, dbt_project, kept_partial_parse


class ReadBackError(RuntimeError):
    """Spark built a model whose rows cannot be read back."""


@dataclass(frozen=True)
class Model:
    """A model a dbt step built: its schema and table name on both engines."""

    unique_id: str
    schema: str
    name: str
    #: the columns and types its YAML declares (`data_type`), when it declares every one:
    #: what an empty table is created with when the build DuckDB has no earlier copy
    declared: tuple[tuple[str, str], ...] = ()

    @property
    def relation(self) -> str:
        return f'"{self.schema}"."{self.name}"'


def built_models(target_path: Path) -> list[Model]:
    """The models the dbt invocation whose artifacts are in ``target_path`` built
    (``run_results.json``: status success), with their schemas (its ``manifest.json``)."""
    results = json.loads((target_path / "run_results.json").read_text(encoding="utf-8"))
    nodes = json.loads((target_path / "manifest.json").read_text(encoding="utf-8"))["nodes"]
    models = []
    for result in results["results"]:
        uid = result["unique_id"]
        if not uid.startswith("model.") or result["status"] != "success":
            continue
        node = nodes[uid]
        columns = node.get("columns") or {}
        declared = tuple((c["name"], c.get("data_type") or "") for c in columns.values())
        if not all(kind for _, kind in declared):
            declared = ()
        models.append(Model(uid, node["schema"], node.get("alias") or node["name"], declared))
    return models


def table_folder(spark_dir: Path, model: Model) -> Path:
    """Where session-mode Spark keeps ``model``'s Parquet (its managed table's location)."""
    return spark_dir / "warehouse" / f"{model.schema}.db" / model.name


def parquet_of(folder: Path) -> str:
    """``read_parquet`` of a Spark table's folder; a partitioned table's partition columns are
    read from its folders' names (``period_start=2025-01-20``, typed as DuckDB reads them:
    dates as dates)."""
    glob = str(folder / "**" / "*.parquet").replace("'", "''")
    return f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"


def partition_columns(folder: Path) -> list[str]:
    """A partitioned table's partition columns, outermost first, from its folders' names."""
    first = next(folder.rglob("*.parquet"), None)
    if first is None:
        return []
    return [part.split("=", 1)[0] for part in first.relative_to(folder).parts[:-1] if "=" in part]


def read_back_tables(con: duckdb.DuckDBPyConnection, spark_dir: Path, models: list[Model]) -> int:
    """Replace the build DuckDB's copies of ``models`` (those Spark holds as tables) with
    Spark's rows, in one transaction; return the tables read back."""
    tables = [m for m in models if table_folder(spark_dir, m).is_dir()]
    empty = [m for m in tables if not any(table_folder(spark_dir, m).rglob("*.parquet"))]
    if empty:
        # a partitioned table without rows leaves no file to say its columns
        have = {
            (s, n)
            for s, n in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        missing = [m for m in empty if (m.schema, m.name) not in have and not m.declared]
        if missing:
            names = ", ".join(f"{m.schema}.{m.name}" for m in missing)
            raise ReadBackError(
                f"Spark built {names} without rows and the build warehouse has no earlier "
                f"copy to take its columns from ({table_folder(spark_dir, missing[0])}), nor "
                "does its YAML declare them (`data_type`): run a night that gives it rows first"
            )
    con.execute("begin transaction")
    try:
        for schema in sorted({m.schema for m in tables}):
            con.execute(f'create schema if not exists "{schema}"')
        for m in tables:
            if m in empty and m.declared:
                columns = ", ".join(f'"{name}" {kind}' for name, kind in m.declared)
                con.execute(f"create or replace table {m.relation} ({columns})")
            elif m in empty:
                con.execute(f"delete from {m.relation}")
            else:
                folder = table_folder(spark_dir, m)
                # Spark keeps a table's partition columns last; the models (and so DuckDB's
                # tables and what BI reads) have them first
                first = ", ".join(f'"{c}"' for c in partition_columns(folder))
                listed = f"{first}, * exclude ({first})" if first else "*"
                con.execute(
                    f"create or replace table {m.relation} as "
                    f"select {listed} from {parquet_of(folder)}"
                )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return len(tables)


def create_views(
    settings: Settings, views: list[Model], environment: Mapping[str, str], dbt_vars: str
) -> None:
    """Create ``views`` on the build DuckDB (dbt's ``build`` target) over the tables read
    back: a dbt of its own, as a process, so no connection to the warehouse outlives it."""
    if not views:
        return
    project_dir = Path(dbt_project().project_dir)
    with tempfile.TemporaryDirectory(prefix="kpi-views-") as target:
        saved = kept_partial_parse()  # so this dbt does not parse everything again
        if saved.exists():
            shutil.copyfile(saved, Path(target) / saved.name)
        done = subprocess.run(
            [
                dbt_executable(),
                "run",
                "--target",
                "build",
                "--vars",
                dbt_vars,
                "--select",
                *(v.unique_id.split(".")[-1] for v in views),
                "--profiles-dir",
                str(project_dir),
                "--project-dir",
                str(project_dir),
                "--target-path",
                target,
            ],
            cwd=project_dir,
            env={**os.environ, **environment},
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise ReadBackError(
            "dbt could not create the views over Spark's tables on the build warehouse "
            f"({', '.join(v.name for v in views)}):\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )


def read_back(
    warehouse: Warehouse,
    target_path: Path,
    environment: Mapping[str, str],
    dbt_vars: str,
    log: Callable[[str], None] = print,
) -> None:
    """After a dbt step on Spark (its artifacts in ``target_path``): its tables read back into
    the build DuckDB, then its views created there over them."""
    settings = warehouse.settings()
    models = built_models(target_path)
    with warehouse.connect() as con:
        tables = read_back_tables(con, settings.spark_dir, models)
    views = [m for m in models if not table_folder(settings.spark_dir, m).is_dir()]
    create_views(settings, views, environment, dbt_vars)
    log(
        f"read back {tables} tables from Spark ({settings.spark_dir / 'warehouse'}) into the "
        f"build warehouse; {len(views)} views over them"
    )
