"""Publish assets: one per unit, after its gate; each reads the gate's verdict itself."""

import dagster as dg

from expectations.runner import read_verdict
from expectations.suites import UNITS
from kpi_tree.model import default_tree
from pipelines.partitions import daily, run_window
from pipelines.publish.serving import (
    LogEntry,
    append_log,
    assemble_serving,
    export_unit,
    provisional_days,
)
from pipelines.quality.checks import PACE_ASSET, gated_asset
from pipelines.resources import WAREHOUSE_POOL, Warehouse


def build_publish_asset(unit: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["publish", unit],
        deps=list(dict.fromkeys([gated_asset(unit), PACE_ASSET])),
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        group_name="publish",
        kinds={"duckdb", "parquet"},
        description=(
            f"The '{unit}' publication: its tables as Parquet (data/published/{unit}/) and in "
            "the serving warehouse (data/warehouse/kpi.duckdb), only after its gate passed."
        ),
    )
    def publish(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        start, end = run_window(context.run.tags) or (None, None)
        verdict = read_verdict(settings.warehouse_dir, unit)
        # the verdict must be this run's and a pass: a blocking check alone does not stop an
        # asset materialized in another run, or selected without its check
        if verdict is None or verdict.run_id != context.run.run_id or not verdict.success:
            why = (
                "no quality verdict"
                if verdict is None
                else f"the verdict is from run {verdict.run_id}"
                if verdict.run_id != context.run.run_id
                else "its quality gate failed: " + "; ".join(f.describe() for f in verdict.failures)
            )
            raise dg.Failure(
                description=f"{unit} not published: {why}. The last good publication stays.",
                allow_retries=False,
            )
        tree = default_tree()
        with warehouse.connect(read_only=True) as con:
            rows = export_unit(con, settings, tree, unit, context.run.run_id)
            provisional = provisional_days(con, tree, unit)
        append_log(
            settings,
            LogEntry(
                unit=unit,
                run_id=context.run.run_id,
                status="published",
                published_at=verdict.checked_at,
                data_as_of=str(end),
                window_start=str(start),
                provisional_days=provisional,
                report=verdict.report,
            ),
        )
        path = assemble_serving(settings)
        return dg.MaterializeResult(
            metadata={
                **{f"rows_{t}": dg.MetadataValue.int(n) for t, n in rows.items()},
                "provisional_days": provisional,
                "serving_warehouse": dg.MetadataValue.path(str(path)),
                "validation_report": dg.MetadataValue.url(verdict.report or ""),
            }
        )

    return publish


publish_assets = [build_publish_asset(unit) for unit in UNITS]
defs = dg.Definitions(assets=publish_assets)
