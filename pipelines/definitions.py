"""The Dagster code location: gathers each domain's definitions, nothing else."""

from __future__ import annotations

import dagster as dg

from pipelines.ingest import assets as ingest
from pipelines.transform import assets as transform
from pipelines.jobs import nightly_job
from pipelines.resources import Warehouse
from pipelines.schedules import nightly_schedule
from pipelines.sensors import landing_sensor
from pipelines.settings import settings

defs = dg.Definitions.merge(
    ingest.defs,
    transform.defs,
    dg.Definitions(
        jobs=[nightly_job],
        schedules=[nightly_schedule],
        sensors=[landing_sensor],
        resources={"warehouse": Warehouse(data_dir=str(settings().data_dir))},
    ),
)
