"""`kpi dev`: the Dagster UI on this project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

from pipelines.settings import load_settings

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"


def dev(port: int = 3000) -> None:
    """Start the Dagster UI on this project (dagster dev -w workspace.yaml)."""
    from pipelines.runner import prepare_dagster_home  # Dagster: only this command needs it

    prepare_dagster_home(load_settings())
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(WORKSPACE), "-p", str(port)]
    raise typer.Exit(subprocess.call(cmd, cwd=WORKSPACE.parent))
