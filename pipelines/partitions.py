"""The daily partitions every asset shares: business days in the shop's time zone.

Nothing here reads the settings when imported: the definitions factory
(``pipelines.definitions.build_defs``) builds the partitions from the settings it is given and
hands them to each domain's definitions.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from pipelines.settings import Settings


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """One partition per business day from ``partitions_start``, in the business time zone."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start,
        timezone=settings.business_timezone,
    )


def run_window(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The partition window of a run from its tags (one day, or a range run's first and last)."""
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    end = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    if not (start and end):
        return None
    return dt.date.fromisoformat(start), dt.date.fromisoformat(end)
