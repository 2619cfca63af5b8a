"""The KPI tree, built by dbt: every model an asset, every dbt test an asset check."""

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from pipelines.partitions import daily
from pipelines.resources import WAREHOUSE_POOL, Warehouse
from pipelines.settings import Settings
from pipelines.transform.project import dbt_project


class KpiTranslator(DagsterDbtTranslator):
    """Groups by dbt layer (staging, intermediate, marts) so the graph reads top-down."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props.get("resource_type") == "source":
            return None
        fqn = dbt_resource_props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 else "dbt"


def window_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition window as dbt vars (inclusive dates)."""
    window = context.partition_time_window
    start = window.start.date()
    end = (window.end - dt.timedelta(days=1)).date()  # the window's end is exclusive
    return {"start_date": start.isoformat(), "end_date": end.isoformat()}


def pace_vars(settings: Settings) -> dict[str, float | int]:
    """The pace thresholds and the mid-month check day (kpi.yaml `targets:`) as dbt vars."""
    t = settings.targets
    return {
        "pace_on_track": t.on_track,
        "pace_at_risk": t.at_risk,
        "mid_month_day": t.mid_month_day,
    }


#: the targets-in-force and pace models (dbt tag `targets`) read the plan versions the
#: targets asset loads after the KPI tree is built, so they are a second dbt step
TARGET_MODELS = "tag:targets"


def _build(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse, what: str
) -> Iterator:
    settings = warehouse.settings()
    # the profile reads the build warehouse's path from the environment (dbt_project/profiles.yml)
    os.environ["KPI_BUILD_DB"] = str(settings.build_db)
    dbt_vars = {**window_vars(context), **pace_vars(settings)}
    context.log.info(f"dbt build ({what}) over {dbt_vars['start_date']} .. {dbt_vars['end_date']}")
    yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars)], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=KpiTranslator(),
    exclude=TARGET_MODELS,
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def kpi_tree_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator:
    yield from _build(context, dbt, warehouse, "the KPI tree")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=KpiTranslator(),
    select=TARGET_MODELS,
    name="kpi_targets_dbt",
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def kpi_targets_dbt(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator:
    yield from _build(context, dbt, warehouse, "targets in force and pace")


defs = dg.Definitions(
    assets=[kpi_tree_dbt, kpi_targets_dbt],
    resources={"dbt": DbtCliResource(project_dir=dbt_project)},
)
