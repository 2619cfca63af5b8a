"""Publish assets: one per unit, acting on the verdict of the unit's quality gate.

Each ``publish/<unit>`` runs after the unit's gate (``pipelines/quality``: a blocking check on
the table it judges, whose failures do not stop this step) and reads the gate's verdict
itself (``expectations/verdict.py``):

* a passing verdict of this run: the unit's tables are exported (Parquet swapped in
  atomically), the publication log records ``published``, and the serving file is rebuilt;
* a failing verdict of this run: nothing is exported, the unit's last good publication stays,
  the publication log records ``held_back`` with the failed expectations, and the serving file
  is rebuilt so that its ``main.publication_log`` shows it. The step still materializes: what
  it publishes is the unit's state (published, or held back), and the alerts step after it
  reads that state to send the team the held-back notice instead of metric alerts;
* a skipped verdict of this run (the shop delivers nothing the unit can compute): nothing is
  exported, the log records ``skipped`` with what the unit's KPIs need, in one line of the
  run's log; not a failure, and no notice: there is no data to hold back;
* no verdict, or one from another run (the gate did not run in this run): the step fails and
  publishes nothing.
"""

import dagster as dg

from expectations.verdict import Verdict, read_verdict
from kpi_tree.availability import summary
from kpi_tree.model import default_tree
from kpi_tree.units import PACE_TABLE, gated_table, publication_units
from pipelines.links import report_url
from pipelines.partitions import run_window
from pipelines.publish.serving import (
    HELD_BACK,
    PUBLISHED,
    SKIPPED,
    LogEntry,
    append_log,
    assemble_serving,
    export_unit,
    provisional_days,
)
from pipelines.resources import WAREHOUSE_POOL, Warehouse
from pipelines.settings import Settings

PACE_ASSET = dg.AssetKey(list(PACE_TABLE))


def _verdict_of_this_run(settings: Settings, unit: str, run_id: str) -> Verdict:
    verdict = read_verdict(settings.warehouse_dir, unit)
    # a verdict of another run is not about the data this run built: a blocking check does
    # not order an asset materialized in another run, or selected without its check
    if verdict is None or verdict.run_id != run_id:
        why = (
            "no quality verdict" if verdict is None else f"the verdict is from run {verdict.run_id}"
        )
        raise dg.Failure(
            description=f"{unit} not published: {why}. The last good publication stays.",
            allow_retries=False,
        )
    return verdict


def _hold_back(
    context: dg.AssetExecutionContext, settings: Settings, unit: str, verdict: Verdict
) -> dg.MaterializeResult:
    failed = verdict.describe_failures()
    append_log(
        settings,
        LogEntry(
            unit=unit,
            run_id=context.run.run_id,
            status=HELD_BACK,
            published_at=verdict.checked_at,
            data_as_of=verdict.end,
            window_start=verdict.start,
            failed_expectations=failed,
            report=verdict.report,
            not_available=verdict.describe_not_available(),
        ),
    )
    path = assemble_serving(settings)
    context.log.warning(
        f"{unit} held back for {verdict.start} .. {verdict.end}: {len(failed)} expectation(s) "
        f"of its quality gate failed; its last good publication stays. "
        f"Failed: {'; '.join(failed[:5])}"
    )
    return dg.MaterializeResult(
        metadata={
            "status": HELD_BACK,
            "failed_expectations": dg.MetadataValue.md("\n".join(f"- {f}" for f in failed)),
            "serving_warehouse": dg.MetadataValue.path(str(path)),
            "validation_report": dg.MetadataValue.url(report_url(settings, verdict.report) or ""),
        }
    )


def _skip(
    context: dg.AssetExecutionContext, settings: Settings, unit: str, verdict: Verdict
) -> dg.MaterializeResult:
    append_log(
        settings,
        LogEntry(
            unit=unit,
            run_id=context.run.run_id,
            status=SKIPPED,
            published_at=verdict.checked_at,
            data_as_of=verdict.end,
            window_start=verdict.start,
            not_available=verdict.describe_not_available(),
        ),
    )
    path = assemble_serving(settings)
    context.log.info(
        f"{unit} skipped: none of its KPIs can be computed from the sources delivered: "
        f"{summary(verdict.not_available)}. Nothing published, nothing held back."
    )
    return dg.MaterializeResult(
        metadata={
            "status": SKIPPED,
            "not_available": dg.MetadataValue.md(
                "\n".join(f"- {k}" for k in verdict.describe_not_available())
            ),
            "serving_warehouse": dg.MetadataValue.path(str(path)),
        }
    )


def build_publish_asset(unit: str, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=["publish", unit],
        # after the gated table (so after its gate) and the pace, of which every unit
        # publishes rows
        deps=list(dict.fromkeys([dg.AssetKey(list(gated_table(unit))), PACE_ASSET])),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        group_name="publish",
        kinds={"duckdb", "parquet"},
        description=(
            f"The '{unit}' publication: its tables as Parquet (data/published/{unit}/) and in "
            "the serving warehouse (data/warehouse/kpi.duckdb) when its quality gate passed in "
            "this run; else held back (the last good publication stays, the log says why)."
        ),
    )
    def publish(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        window = run_window(context, warehouse)
        start, end = (window.start, window.end) if window else (None, None)
        verdict = _verdict_of_this_run(settings, unit, context.run.run_id)
        if not verdict.success:
            return _hold_back(context, settings, unit, verdict)
        if verdict.skipped:
            return _skip(context, settings, unit, verdict)
        tree = default_tree()
        with warehouse.connect(read_only=True) as con:
            rows = export_unit(con, settings, tree, unit, context.run.run_id)
            provisional = provisional_days(con, tree, unit)
        append_log(
            settings,
            LogEntry(
                unit=unit,
                run_id=context.run.run_id,
                status=PUBLISHED,
                published_at=verdict.checked_at,
                data_as_of=str(end),
                window_start=str(start),
                provisional_days=provisional,
                report=verdict.report,
                not_available=verdict.describe_not_available(),
            ),
        )
        path = assemble_serving(settings)
        if verdict.not_available:
            context.log.info(f"{unit} published; not available: {summary(verdict.not_available)}")
        return dg.MaterializeResult(
            metadata={
                "status": PUBLISHED,
                "not_available": len(verdict.not_available),
                **{f"rows_{t}": dg.MetadataValue.int(n) for t, n in rows.items()},
                "provisional_days": provisional,
                "serving_warehouse": dg.MetadataValue.path(str(path)),
                "validation_report": dg.MetadataValue.url(
                    report_url(settings, verdict.report) or ""
                ),
            }
        )

    return publish


def build_defs(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """One publish asset per publication unit on ``partitions``."""
    units = publication_units(default_tree())
    return dg.Definitions(assets=[build_publish_asset(unit, partitions) for unit in units])
