"""Start a run when new files land.

The cursor is a high-water mark: the newest change time among the landed files already seen.
On its first tick the sensor only records that mark (files that were there before it started
are the schedule's and backfills' business). Each later tick requests one run per contiguous
range of delivery dates that received new files; a range run re-runs its days, which is safe
because partitions are idempotent.
"""

import datetime as dt
from pathlib import Path

import dagster as dg

from pipelines.ingest.contracts import SOURCES
from pipelines.ingest.load import landed_by_day
from pipelines.resources import Warehouse


def landed_files(landing: Path, zone: str) -> list[tuple[Path, dt.date, int]]:
    """(path, delivery date, change stamp) for every landed file of a known source: the
    files ingestion counts as a day's (:func:`~pipelines.ingest.load.landed_by_day`; ``zone``
    is the business zone, which dates the files whose names have no date)."""
    found = []
    for source in SOURCES:
        for stamp, paths in landed_by_day(landing, source, zone).items():
            try:
                day = dt.date.fromisoformat(stamp)
            except ValueError:
                continue
            for path in paths:
                st = path.stat()
                found.append((path, day, max(st.st_mtime_ns, st.st_ctime_ns)))
    return found


def contiguous_ranges(days: set[dt.date]) -> list[tuple[dt.date, dt.date]]:
    ranges: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if ranges and day - ranges[-1][1] == dt.timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def range_run_request(start: dt.date, end: dt.date, run_key: str | None = None) -> dg.RunRequest:
    if start == end:
        return dg.RunRequest(run_key=run_key, partition_key=start.isoformat())
    return dg.RunRequest(
        run_key=run_key,
        tags={
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        },
    )


def build_landing_sensor(job) -> dg.SensorDefinition:
    """The sensor that requests ``job`` (:func:`~pipelines.jobs.build_nightly_job`) for the
    delivery days of new landing files that are partitions of the job."""

    @dg.sensor(
        job=job,
        name="landing_sensor",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Runs the nightly job for the delivery dates that received new landing files.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse):
        settings = warehouse.settings()
        files = landed_files(settings.landing_dir, settings.business_timezone)
        newest = max((stamp for _, _, stamp in files), default=0)
        if context.cursor is None:
            context.update_cursor(str(newest))
            return dg.SkipReason(f"Started watching {len(files)} landed files.")
        mark = int(context.cursor)
        valid = set(job.partitions_def.get_partition_keys(dynamic_partitions_store=None))
        fresh = {day for _, day, stamp in files if stamp > mark and day.isoformat() in valid}
        outside = {day for _, day, stamp in files if stamp > mark and day.isoformat() not in valid}
        first = dt.date.fromisoformat(settings.partitions_start)
        if early := sorted(d for d in outside if d < first):
            context.log.warning(
                f"Files delivered {early[0]} .. {early[-1]} are before partitions_start "
                f"({first}) and are not loaded: set partitions_start: {early[0]} (or earlier) "
                "in kpi.yaml to load them."
            )
        horizon = settings.date_horizon()
        if beyond := sorted(
            path.relative_to(settings.landing_dir).as_posix()
            for path, day, stamp in files
            if stamp > mark and day > horizon
        ):
            context.log.warning(
                f"Refused, named for a date beyond the date horizon {horizon} (the run's date "
                f"+ date_horizon_days), not loaded: {beyond[:10]}. Rename each with the day it "
                "was delivered, or remove it."
            )
        if waiting := sorted(d for d in outside if first <= d <= horizon):
            context.log.info(f"Files for days that are not over yet: {waiting}")
        if not fresh:
            return dg.SkipReason("No new landing files.")
        context.update_cursor(str(max(s for _, d, s in files if d in fresh)))
        return [
            range_run_request(a, b, run_key=f"landing:{a}:{b}:{mark}")
            for a, b in contiguous_ranges(fresh)
        ]

    return landing_sensor
