"""The dbt project, prepared on first use: the tree's macro written, the manifest parsed when
stale.

Nothing happens when this module is imported (dagster-open-platform's pattern: a cached
function returns the prepared ``DbtProject``). The definitions factory asks for it when it
builds the dbt assets, `kpi dictionary` when it reads the manifest; whatever asks first
prepares it, once per process.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtProjectPreparer, DbtProject

from kpi_tree.dbt_export import DBT_PROJECT_DIR, write_dbt_macro
from kpi_tree.model import TREE_FILE
from pipelines.settings import Settings, load_settings
from pipelines.transform.in_process import environment_set


def dbt_executable() -> str:
    """The `dbt` installed beside this interpreter (the one with this project's dbt-duckdb),
    even when its virtual environment is not activated; else `dbt` from PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The pace thresholds and the mid-month check day (kpi.yaml `targets:`) and the shop's
    vocabulary (`vocabulary:`, macros/kpi/vocabulary.sql) as dbt vars."""
    t = settings.targets
    return {
        "pace_on_track": t.on_track,
        "pace_at_risk": t.at_risk,
        "mid_month_day": t.mid_month_day,
        "kpi_vocabulary": settings.vocabulary.dbt_vars(),
    }


def profile_env(settings: Settings, *, in_warehouse_dir: bool) -> dict[str, str]:
    """What profiles.yml reads from the environment for a build of ``settings``' warehouse:
    its path (``KPI_BUILD_DB``), DuckDB's memory limit, and Spark's folder on Spark.

    dbt hashes the profile's connection keys, dbt-duckdb's ``path`` among them, into the
    parse it saves, and parses the whole project again when they differ from the saved
    parse's: given as a whole path, a new data dir's warehouse would never reuse the parse
    an earlier run left. So when dbt runs in the warehouse's folder (``in_warehouse_dir``:
    DuckDB opens a relative path in the working directory) it is given the file's name, and
    the parse is the same for every data dir (nothing reads ``target.path`` while parsing);
    a `dbt` subprocess runs in the project's folder (dagster-dbt's) and gets the whole path.
    ``KPI_SPARK_DIR`` is read while parsing too, so a DuckDB build leaves it at the
    profile's default, the same in every data dir.
    """
    env = {
        "KPI_BUILD_DB": settings.build_db.name if in_warehouse_dir else str(settings.build_db),
        "KPI_DUCKDB_MEMORY_LIMIT": settings.memory_limit,
    }
    if settings.engine == "spark":
        env["KPI_SPARK_DIR"] = str(settings.spark_dir)  # its warehouse and raw Parquet
    return env


def _newest_source_mtime(project_dir: Path) -> float:
    paths = [TREE_FILE, project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        paths += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in paths if p.exists())


def prepare(project: DbtProject) -> None:
    """Write the tree's macro, then parse the project when the manifest is stale.

    Unlike dagster-dbt's `prepare_if_dev` this also runs outside `dagster dev` (the CLI, the
    tests, CI): a manifest older than tree.yaml would build yesterday's formulas.
    """
    write_dbt_macro()
    manifest = project.manifest_path
    if manifest.exists() and manifest.stat().st_mtime >= _newest_source_mtime(
        Path(project.project_dir)
    ):
        return
    # dagster-dbt's preparer (`dbt parse`, guarded against a second process parsing at the
    # same time) runs the `dbt` it finds on PATH: for the parse, that is ours
    search_path = os.environ.get("PATH", "")
    dbt = Path(dbt_executable())
    if dbt.is_absolute():
        search_path = str(dbt.parent) + os.pathsep + search_path
    environment = {"PATH": search_path}
    args = ["parse", "--quiet"]
    settings = load_settings()
    if settings.engine == "duckdb":
        # parsed as the pipeline's dbt builds (its target, vars and profile: the warehouse's
        # file name), the parse it saves serves a new data dir's first build
        # (pipelines/transform/assets.py, _keep_partial_parse)
        args += ["--target", settings.dbt_target, "--vars", json.dumps(dbt_vars(settings))]
        environment |= profile_env(settings, in_warehouse_dir=True)
    with environment_set(environment):
        DagsterDbtProjectPreparer(prepare_project_cli_args=args).prepare(project)


def kept_partial_parse() -> Path:
    """dbt's saved parse that the next invocation starts from: each run leaves its own there,
    and an invocation with a target folder of its own is seeded from it."""
    return DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"


@cache
def dbt_project() -> DbtProject:
    """The dbt project, prepared (:func:`prepare`) the first time it is asked for."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    prepare(project)
    return project
