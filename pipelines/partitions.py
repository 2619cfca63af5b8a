"""The daily partitions every asset shares: business days in the shop's time zone."""

from __future__ import annotations

import dagster as dg

from pipelines.settings import settings

daily = dg.DailyPartitionsDefinition(
    start_date=settings().partitions_start,
    timezone=settings().business_timezone,
)
