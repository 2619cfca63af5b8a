"""dbt run by hand on a test shop's build warehouse, over a window as the nightly job sets it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from conftest import Shop

from kpi_tree.dbt_export import DBT_PROJECT_DIR


def dbt_over_window(
    shop: Shop,
    start: dt.date | None,
    end: dt.date | None,
    *args: str,
    project: Path = DBT_PROJECT_DIR,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`dbt <args>` in `project` on the shop's build warehouse over the window start..end
    (None: no window, a first build), as the nightly job runs it (the window in the
    environment), with `env` added to the environment."""
    environment = {
        **os.environ,
        "DBT_PROFILES_DIR": str(project),
        "KPI_BUILD_DB": str(shop.settings.build_db),
        **(env or {}),
    }
    if start is not None and end is not None:
        environment.update(KPI_WINDOW_START=start.isoformat(), KPI_WINDOW_END=end.isoformat())
    return subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
