"""The targets asset: plan files versioned, every version loaded into the build warehouse.

It runs after the KPI tree is built (a plan's history comes from it) and before dbt stitches
the targets in force and paces against them (``kpi_targets_dbt`` in ``pipelines/transform``).
"""

import dagster as dg

from kpi_tree.model import default_tree
from kpi_tree.targets.plan import PlanError
from pipelines.ingest.spark_raw import export_table
from pipelines.partitions import run_window
from pipelines.resources import WAREHOUSE_POOL, Warehouse
from pipelines.targets.planning import load_into_warehouse, sync_plan_files, version_store

UPSTREAM = [dg.AssetKey(["kpi", "fct_kpi_values"]), dg.AssetKey(["kpi", "fct_base_measures"])]
PLAN_VERSIONS = dg.AssetKey(["targets", "plan_versions"])
TARGETS = dg.AssetKey(["targets", "targets"])


SPECS = [
    dg.AssetSpec(
        PLAN_VERSIONS,
        deps=UPSTREAM,
        description=(
            "targets.plan_versions: every plan version (who, when, why, in force from which "
            "day), from <data>/targets/versions/. A changed plan file becomes a new version."
        ),
        kinds={"duckdb"},
        group_name="targets",
    ),
    dg.AssetSpec(
        TARGETS,
        deps=UPSTREAM,
        description=(
            "targets.targets: every target of every version (KPI, grain, period, scope, "
            "value), the year split over months, weeks and days and down the tree."
        ),
        kinds={"duckdb"},
        group_name="targets",
    ),
]


def targets(context: dg.AssetExecutionContext, warehouse: Warehouse):
    settings = warehouse.settings()
    window = run_window(context, warehouse)
    end = window.end if window else None
    tree = default_tree()
    with warehouse.connect() as con:
        try:
            created = sync_plan_files(settings, tree, con, end, log=context.log.info)
        except (PlanError, ValueError) as err:
            raise dg.Failure(description=f"target plan: {err}", allow_retries=False) from err
        versions, rows = load_into_warehouse(con, version_store(settings))
        if settings.engine == "spark":
            # Spark reads the plan versions by path, as it reads the raw rows (docs/spark.md)
            for table in ("plan_versions", "targets"):
                export_table(con, settings.spark_targets_dir / table, f"targets.{table}")
    if versions == 0:
        context.log.info(
            "no target plan yet: drop a plan file into "
            f"{settings.targets_dir / 'plans'} or run `kpi targets plan FILE`"
        )
    meta = {
        "versions": versions,
        "new_versions": dg.MetadataValue.text(", ".join(v.version_id for v in created) or "none"),
    }
    yield dg.MaterializeResult(asset_key=PLAN_VERSIONS, metadata=meta)
    yield dg.MaterializeResult(asset_key=TARGETS, metadata={**meta, "rows": rows})


def build_defs(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """The targets asset on ``partitions``."""
    asset = dg.multi_asset(
        specs=SPECS,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
    )(targets)
    return dg.Definitions(assets=[asset])
