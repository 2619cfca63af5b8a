"""The nightly schedule: at 02:30 business time (configurable), the previous business day."""

from __future__ import annotations

import dagster as dg

from pipelines.settings import Settings


def build_nightly_schedule(job, settings: Settings) -> dg.ScheduleDefinition:
    """The previous business day, every night at ``nightly_time`` business time, for ``job``
    (:func:`~pipelines.jobs.build_nightly_job`)."""
    return dg.build_schedule_from_partitioned_job(
        job,
        name="nightly_schedule",
        hour_of_day=settings.nightly_hour,
        minute_of_hour=settings.nightly_minute,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Materializes the previous business day through the whole chain.",
    )
