"""The dbt project, prepared on first use: the tree's macro written, the manifest parsed when
stale.

Nothing happens when this module is imported (dagster-open-platform's pattern: a cached
function returns the prepared ``DbtProject``). The definitions factory asks for it when it
builds the dbt assets, `kpi dictionary` when it reads the manifest; whatever asks first
prepares it, once per process.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject

from kpi_tree.dbt_export import DBT_PROJECT_DIR, write_dbt_macro
from kpi_tree.model import TREE_FILE
from pipelines.transform.in_process import environment_set


def dbt_executable() -> str:
    """The `dbt` installed beside this interpreter (the one with this project's dbt-duckdb),
    even when its virtual environment is not activated; else `dbt` from PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


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
    with environment_set({"PATH": search_path}):
        project.preparer.prepare(project)


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
