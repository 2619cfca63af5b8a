"""The Dagster code location: gathers each domain's definitions, nothing else."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

from pipelines.alerts import assets as alerts
from pipelines.alerts import sensor as outbox
from pipelines.board import sensor as board
from pipelines.ingest import assets as ingest
from pipelines.jobs import build_nightly_job
from pipelines.partitions import daily_partitions
from pipelines.publish import assets as publish
from pipelines.quality import checks as quality
from pipelines.resources import Warehouse
from pipelines.schedules import build_nightly_schedule
from pipelines.sensors import build_landing_sensor
from pipelines.settings import load_settings, settings
from pipelines.targets import assets as targets
from pipelines.transform import assets as transform


def build_defs(data_dir: str | Path) -> dg.Definitions:
    """Every domain's definitions, on the configured daily partitions, with the warehouse
    found under ``data_dir``."""
    config = load_settings(data_dir)
    partitions = daily_partitions(config)
    nightly_job = build_nightly_job(partitions)
    with warnings.catch_warnings():
        # a range of days is one run (backfill_policy), by design (docs/orchestration.md);
        # Dagster's note that the parameter is in beta is for its developers, and was said
        # once an asset to whoever loads the code location (`dagster dev`, the daemon)
        warnings.filterwarnings(
            "ignore", message=r"Parameter `backfill_policy`", category=dg.BetaWarning
        )
        return dg.Definitions.merge(
            ingest.build_defs(partitions),
            transform.build_defs(partitions),
            targets.build_defs(partitions),
            quality.build_defs(),
            publish.build_defs(partitions),
            alerts.build_defs(partitions, config),
            board.defs,
            outbox.defs,
            dg.Definitions(
                jobs=[nightly_job],
                schedules=[build_nightly_schedule(nightly_job, config)],
                sensors=[build_landing_sensor(nightly_job)],
                resources={"warehouse": Warehouse(data_dir=str(data_dir))},
            ),
        )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location `dagster dev` loads (workspace.yaml), for the configured data
    directory; loaded when Dagster asks for it, not when this module is imported."""
    return build_defs(settings().data_dir)
