"""The dbt project, loaded once, with its manifest kept in step with the tree."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from kpi_tree.dbt_export import DBT_PROJECT_DIR, write_dbt_macro
from kpi_tree.model import TREE_FILE


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
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(
        Path(project.project_dir)
    ):
        project.preparer.prepare(project)


def _put_dbt_on_path() -> None:
    """dagster-dbt calls `dbt` from PATH; when this interpreter's venv is not activated, the
    `dbt` installed beside it is the one meant."""
    bin_dir = str(Path(sys.executable).parent)
    if shutil.which("dbt") is None and (Path(bin_dir) / "dbt").exists():
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


_put_dbt_on_path()
dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
prepare(dbt_project)
