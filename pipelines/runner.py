"""Run the nightly job in this process, over one day or a range, as one Dagster run.

Used by the CLI (``kpi run``, ``kpi demo``) and the tests. Runs are recorded in the Dagster
instance at ``$DAGSTER_HOME`` (default ``<data dir>/dagster``), so ``dagster dev`` shows them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pipelines.settings import Settings

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def prepare_dagster_home(settings: Settings) -> Path:
    """Point ``DAGSTER_HOME`` at the data directory (unless set) and give it our dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home)))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    return home


def range_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start.isoformat(),
        "dagster/asset_partition_range_end": end.isoformat(),
    }


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    error: str | None


def run_nightly(
    defs: dg.Definitions,
    start: dt.date,
    end: dt.date,
    instance: dg.DagsterInstance,
    log_level: str = "INFO",
) -> RunOutcome:
    """Execute the nightly job over ``start``..``end`` (inclusive) as a single run."""
    job = defs.resolve_job_def("nightly")
    result = job.execute_in_process(
        instance=instance,
        tags=range_tags(start, end),
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        raise_on_error=False,
    )
    error = None
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        if failures:
            data = failures[0].step_failure_data
            error = data.user_failure_data.description if data.user_failure_data else None
            error = error or data.error.message
        else:
            error = "the run failed"
    return RunOutcome(result.run_id, result.success, error)
