"""The nightly job: every asset of the chain, over one day or one range, as one run."""

from __future__ import annotations

import dagster as dg

from pipelines.partitions import daily

#: Failed runs are retried from the failure (the instance enables run retries; see
#: pipelines/dagster.yaml). Data errors raise ``Failure(allow_retries=False)`` and are not
#: retried at the op level.
RUN_RETRY_TAGS = {"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"}

nightly_job = dg.define_asset_job(
    name="nightly",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("landing"),
    partitions_def=daily,
    tags=RUN_RETRY_TAGS,
    description="Ingest the day's landed files and rebuild everything downstream of them.",
)
