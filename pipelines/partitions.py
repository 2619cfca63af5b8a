"""The daily partitions every asset shares: business days in the shop's time zone."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.settings import settings

daily = dg.DailyPartitionsDefinition(
    start_date=settings().partitions_start,
    timezone=settings().business_timezone,
)


def run_window(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The partition window of a run from its tags (one day, or a range run's first and last)."""
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    end = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    if not (start and end):
        return None
    return dt.date.fromisoformat(start), dt.date.fromisoformat(end)
