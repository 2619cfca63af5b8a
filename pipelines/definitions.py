"""The Dagster code location: gathers each domain's definitions, nothing else."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from pipelines.alerts import assets as alerts
from pipelines.board import sensor as board
from pipelines.ingest import assets as ingest
from pipelines.jobs import nightly_job
from pipelines.publish import assets as publish
from pipelines.quality import checks as quality
from pipelines.resources import Warehouse
from pipelines.schedules import nightly_schedule
from pipelines.sensors import landing_sensor
from pipelines.settings import settings
from pipelines.targets import assets as targets
from pipelines.transform import assets as transform


def build_defs(data_dir: str | Path) -> dg.Definitions:
    """Every domain's definitions, with the warehouse found under ``data_dir``."""
    return dg.Definitions.merge(
        ingest.defs,
        transform.defs,
        targets.defs,
        quality.defs,
        publish.defs,
        alerts.defs,
        board.defs,
        dg.Definitions(
            jobs=[nightly_job],
            schedules=[nightly_schedule],
            sensors=[landing_sensor],
            resources={"warehouse": Warehouse(data_dir=str(data_dir))},
        ),
    )


defs = build_defs(settings().data_dir)
