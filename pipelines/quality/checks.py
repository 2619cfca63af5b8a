"""Quality gates: a blocking Great Expectations check per publication unit.

Each check validates the unit's tables for the run's window (the suites are in
``expectations/``), writes the verdict where the publish step reads it, and, when it fails,
keeps the unit's last good publication, records the failing expectations in the publication
log and raises an alert event. Being blocking, a failed check also stops the unit's publish
asset in the same run; the publish asset still reads the verdict itself.
"""

import dagster as dg

from expectations.runner import run_gate
from expectations.suites import SHARED_UNIT, UNITS, build_gate
from kpi_tree.model import default_tree
from pipelines.alerts.notify import held_back_notice
from pipelines.partitions import run_window
from pipelines.publish.serving import LogEntry, append_log, assemble_serving
from pipelines.resources import WAREHOUSE_POOL, Warehouse

ALERT_TAG = "kpi/alert"
#: the pace mart: built after the KPI tree and the targets, published by every unit
PACE_ASSET = dg.AssetKey(["kpi", "fct_kpi_vs_target"])


def gated_asset(unit: str) -> dg.AssetKey:
    if unit == SHARED_UNIT:
        # the shared tables include the targets and the pace, built last
        return PACE_ASSET
    return dg.AssetKey([unit, f"{unit}_kpis"])


def build_gate_check(unit: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=gated_asset(unit),
        name="gx_gate",
        blocking=True,
        pool=WAREHOUSE_POOL,
        description=(
            f"Great Expectations suites of the '{unit}' publication (expectations/suites.py): "
            "ranges, keys, completeness, freshness, volume"
            + (", the tree's identities, the targets' splits" if unit == SHARED_UNIT else "")
            + ". Blocks the unit's publication when it fails."
        ),
    )
    def gate(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        settings = warehouse.settings()
        window = run_window(context.run.tags)
        if window is None:
            raise dg.Failure("the quality gate runs inside a partitioned run (a day or a range)")
        start, end = window
        tree = default_tree()
        with warehouse.connect(read_only=True) as con:
            gate_def = build_gate(con, tree, unit, start, end)
        verdict = run_gate(gate_def, settings.warehouse_dir, context.run.run_id, start, end)
        failed = [f.describe() for f in verdict.failures]
        metadata = {
            "expectations_evaluated": verdict.evaluated,
            "expectations_failed": len(failed),
            "window": f"{start} .. {end}",
            "failed_expectations": dg.MetadataValue.md(
                "\n".join(f"- {f}" for f in failed) or "none"
            ),
            "rows_checked": sum(len(f) for f in gate_def.frames.values()),
        }
        if verdict.report:
            metadata["validation_report"] = dg.MetadataValue.url(verdict.report)
        if not verdict.success:
            append_log(
                settings,
                LogEntry(
                    unit=unit,
                    run_id=context.run.run_id,
                    status="held_back",
                    published_at=verdict.checked_at,
                    data_as_of=end.isoformat(),
                    window_start=start.isoformat(),
                    failed_expectations=failed,
                    report=verdict.report,
                ),
            )
            if unit != SHARED_UNIT:
                notice = held_back_notice(
                    settings, tree, unit, failed, context.run.run_id, start, end
                )
                metadata["held_back_notice"] = notice["delivery_status"]
            assemble_serving(settings)
            context.log.error(
                f"ALERT data held back: {unit} not published for {start} .. {end}; its last good "
                f"publication stays. Failed: {'; '.join(failed[:5])}"
            )
        return dg.AssetCheckResult(
            passed=verdict.success,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=metadata,
        )

    return gate


gate_checks = [build_gate_check(unit) for unit in UNITS]

defs = dg.Definitions(asset_checks=gate_checks)
