"""The nightly job: every asset of the chain, over one day or one range, as one run.

In order: ingest (raw tables) -> dbt build of the tree, the plan's targets, dbt build of the
targets in force and the pace (dbt's tests check the model's invariants; a failed one stops
everything after it) -> each publication unit's quality gate (``pipelines/quality``: judges,
writes its verdict) -> ``publish/<unit>`` (publishes a passing verdict, or records the unit as
held back) -> ``alerts/<unit>`` (metric alerts, or the held-back notice).
"""

from __future__ import annotations

import dagster as dg

#: Failed runs are retried from the failure (the instance enables run retries; see
#: pipelines/dagster.yaml). Data errors raise ``Failure(allow_retries=False)`` and are not
#: retried at the op level.
RUN_RETRY_TAGS = {"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"}

NIGHTLY_JOB = "nightly"


def build_nightly_job(partitions: dg.PartitionsDefinition):
    """The nightly job on ``partitions`` (resolved against the assets by the definitions)."""
    return dg.define_asset_job(
        name=NIGHTLY_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("landing"),
        partitions_def=partitions,
        tags=RUN_RETRY_TAGS,
        description="Ingest the day's landed files and rebuild everything downstream of them.",
    )
