"""The nightly schedule: at 02:30 business time (configurable), the previous business day."""

from __future__ import annotations

import dagster as dg

from pipelines.jobs import nightly_job
from pipelines.settings import settings

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job,
    name="nightly_schedule",
    hour_of_day=settings().nightly_hour,
    minute_of_hour=settings().nightly_minute,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Materializes the previous business day through the whole chain.",
)
