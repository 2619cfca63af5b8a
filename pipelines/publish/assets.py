"""Publish assets: one per unit, acting on the verdict of the unit's quality gate, and one
serving step after them that puts the night in place for every unit at once.

Each ``publish/<unit>`` runs after the unit's gate (``pipelines/quality``: a blocking check on
the table it judges, whose failures do not stop this step) and reads the gate's verdict
itself (``expectations/verdict.py``):

* a passing verdict of this run: the unit's tables are exported to Parquet and staged for
  the night (``pipelines/publish/night.py``); nothing readers see changes yet;
* a failing verdict of this run: nothing is exported, the unit's last good publication stays,
  the publication log records ``held_back`` with the failed expectations. The step still
  materializes: what it publishes is the unit's state, and the alerts step reads that state
  to send the team the held-back notice instead of metric alerts;
* a skipped verdict of this run (the shop delivers nothing the unit can compute): nothing is
  exported, the log records ``skipped`` with what the unit's KPIs need; not a failure, and no
  notice: there is no data to hold back;
* no verdict, or one from another run (the gate did not run in this run): the step fails and
  publishes nothing;
* an export that fails: the log records ``failed`` with the reason, and the step fails.

``serving`` then swaps every staged unit in at once (the Parquet and the serving file
``data/warehouse/kpi.duckdb`` that reads it) and only then logs them ``published``; a swap
that fails is rolled back and logged ``failed``; one killed midway is repaired by the next
run's ``serving``. The alerts steps run after it.
"""

import dagster as dg

from expectations.verdict import Verdict, read_verdict
from kpi_tree.availability import summary
from kpi_tree.model import default_tree
from kpi_tree.units import PACE_TABLE, gated_table, publication_units
from pipelines.links import report_url
from pipelines.partitions import run_window
from pipelines.publish.night import PublishError, publish_night, stage_entry, stage_unit
from pipelines.publish.serving import (
    FAILED,
    HELD_BACK,
    PUBLISHED,
    SKIPPED,
    LogEntry,
    ServingError,
    append_log,
    now_utc,
    provisional_days,
    serving_db,
)
from pipelines.resources import WAREHOUSE_POOL, Warehouse
from pipelines.settings import Settings

PACE_ASSET = dg.AssetKey(list(PACE_TABLE))
#: the step that puts the night in place, after every unit's publish step
SERVING_ASSET = dg.AssetKey(["serving"])


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
    context.log.warning(
        f"{unit} held back for {verdict.start} .. {verdict.end}: {len(failed)} expectation(s) "
        f"of its quality gate failed; its last good publication stays. "
        f"Failed: {'; '.join(failed[:5])}"
    )
    return dg.MaterializeResult(
        metadata={
            "status": HELD_BACK,
            "failed_expectations": dg.MetadataValue.md("\n".join(f"- {f}" for f in failed)),
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
        kinds={"parquet"},
        description=(
            f"The '{unit}' publication: when its quality gate passed in this run, its tables "
            "as Parquet, staged for the night's swap (serving); else held back (the last good "
            "publication stays, the log says why)."
        ),
    )
    def publish(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        window = run_window(context, warehouse)
        start, end = (window.start, window.end) if window else (None, None)
        run_id = context.run.run_id
        verdict = _verdict_of_this_run(settings, unit, run_id)
        if not verdict.success:
            return _hold_back(context, settings, unit, verdict)
        if verdict.skipped:
            return _skip(context, settings, unit, verdict)
        tree = default_tree()
        entry = LogEntry(
            unit=unit,
            run_id=run_id,
            status=PUBLISHED,  # once the serving step has put its night in place
            published_at=verdict.checked_at,
            data_as_of=str(end),
            window_start=str(start),
            report=verdict.report,
            not_available=verdict.describe_not_available(),
        )
        try:
            with warehouse.connect(read_only=True) as con:
                rows = stage_unit(con, settings, tree, unit, run_id)
                entry.provisional_days = provisional_days(con, tree, unit)
        except Exception as exc:
            reason = f"the export to Parquet failed: {type(exc).__name__}: {exc}"
            entry.status, entry.published_at, entry.notes = FAILED, now_utc(), [reason]
            append_log(settings, entry)
            raise dg.Failure(
                description=f"{unit} not published: {reason}. The last good publication stays.",
                allow_retries=False,
            ) from exc
        stage_entry(settings, entry)
        if verdict.not_available:
            context.log.info(f"{unit} passed; not available: {summary(verdict.not_available)}")
        return dg.MaterializeResult(
            metadata={
                "status": "staged",
                "not_available": len(verdict.not_available),
                **{f"rows_{t}": dg.MetadataValue.int(n) for t, n in rows.items()},
                "provisional_days": entry.provisional_days,
                "validation_report": dg.MetadataValue.url(
                    report_url(settings, verdict.report) or ""
                ),
            }
        )

    return publish


def build_serving_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    units = publication_units(default_tree())

    @dg.asset(
        key=SERVING_ASSET,
        deps=[dg.AssetKey(["publish", unit]) for unit in units],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,  # one writer of the serving file at a time
        group_name="publish",
        kinds={"duckdb", "parquet"},
        description=(
            "The night, put in place at once for every unit that passed: its Parquet "
            "(data/published/) and the serving warehouse that reads it "
            "(data/warehouse/kpi.duckdb). Units held back or skipped keep their last good "
            "publication. Repairs a publish an earlier run left unfinished."
        ),
    )
    def serving(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        try:
            night = publish_night(settings, context.run.run_id, report=context.log.warning)
        except (PublishError, ServingError) as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        if night.night:
            context.log.info(f"night {night.night} in place: {', '.join(night.published)}")
        return dg.MaterializeResult(
            metadata={
                "night": night.night or "none (no unit passed)",
                "published": dg.MetadataValue.text(", ".join(night.published) or "none"),
                "repaired": dg.MetadataValue.text(", ".join(night.repaired) or "none"),
                "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in night.notes) or "none"),
                "serving_warehouse": dg.MetadataValue.path(str(serving_db(settings))),
            }
        )

    return serving


def build_defs(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """One publish asset per publication unit, and the serving step after them, on
    ``partitions``."""
    units = publication_units(default_tree())
    return dg.Definitions(
        assets=[
            *(build_publish_asset(unit, partitions) for unit in units),
            build_serving_asset(partitions),
        ]
    )
