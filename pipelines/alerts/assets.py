"""Alerts: one asset per team, after the team's publication, acting on what it did.

``alerts/<unit>`` runs once the night is in place (``serving``) and reads the publication
log entry its run wrote for the unit (``pipelines/publish``):

* ``published``: the team's published KPIs (the serving file: checked data only) are judged
  against their paced targets and their own recent range, and what is new is delivered;
* ``held_back`` (the unit's quality gate failed): the team gets the "data held back" notice,
  naming the failed checks, and no metric alerts (nothing unchecked is judged);
* ``skipped`` (the shop delivers nothing the team's KPIs can be computed from): nothing to
  judge and nothing to notify. A published team's KPIs that are not available have no pace
  row and no value, so no alert judges them either.

The alert history is then written into the serving file (``main.alerts``) through the publish
step's API. The shared unit (``kpi_tree``) has no team and no alerts.
"""

import dagster as dg
import duckdb

from kpi_tree.model import default_tree
from kpi_tree.units import team_units
from pipelines.alerts.notify import held_back_notice, team_alerts
from pipelines.alerts.store import SERVED_AS, served_table
from pipelines.partitions import run_window
from pipelines.publish.assets import SERVING_ASSET
from pipelines.publish.serving import (
    HELD_BACK,
    SKIPPED,
    assemble_serving,
    run_entry,
    serves,
    serving_db,
)
from pipelines.resources import WAREHOUSE_POOL, Warehouse


def build_alerts_asset(
    unit: str, team: str, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=["alerts", unit],
        deps=[dg.AssetKey(["publish", unit]), SERVING_ASSET],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,  # it rewrites the serving file (main.alerts): one at a time
        group_name="alerts",
        kinds={"duckdb"},
        description=(
            f"Alerts for {team}: its published KPIs short of (or at risk against) their paced "
            "target, explained down the tree; breaks from their own recent range; recoveries; "
            "or, when its publication was held back, the held-back notice. Delivered to the "
            "team's channels (kpi.yaml alerts.channels), recorded in main.alerts of the "
            "serving warehouse."
        ),
    )
    def alerts(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        window = run_window(context, warehouse)
        if window is None:
            raise dg.Failure("alerts run inside a partitioned run (a day or a range)")
        start, day = window.start, window.end  # the newest day: the night being reported on
        run_id = context.run.run_id
        publication = run_entry(settings, unit, run_id)
        if publication is None:
            raise dg.Failure(
                description=f"no publication of {unit} in run {run_id}: alerts judge only what "
                f"their run published (run publish/{unit} with them)",
                allow_retries=False,
            )
        tree = default_tree()
        if publication["status"] == SKIPPED:
            records = []
            context.log.info(f"no alerts for {unit}: skipped, none of its KPIs can be computed")
        elif publication["status"] == HELD_BACK:
            failed = publication["failed_expectations"]
            records = [held_back_notice(settings, tree, unit, failed, run_id, start, day)]
            context.log.error(
                f"ALERT data held back: {unit} not published for {start} .. {day}; its last "
                f"good publication stays. Failed: {'; '.join(failed[:5])}"
            )
        else:
            with duckdb.connect(str(serving_db(settings)), read_only=True) as serving:
                records = team_alerts(
                    settings, tree, unit, team, day, run_id, serving, log=context.log.warning
                )
        if records or not serves(settings, SERVED_AS):
            assemble_serving(settings, tables=[served_table(settings)], report=context.log.warning)
        undelivered = [r for r in records if r["delivery_status"] != "delivered"]
        return dg.MaterializeResult(
            metadata={
                "publication": publication["status"],
                "alerts": len(records),
                "undelivered": len(undelivered),
                "kinds": dg.MetadataValue.text(
                    ", ".join(sorted({r["kind"] for r in records})) or "none"
                ),
                "day": day.isoformat(),
            }
        )

    return alerts


def build_defs(partitions: dg.PartitionsDefinition) -> dg.Definitions:
    """One alerts asset per team on ``partitions``."""
    units = team_units(default_tree()).items()
    return dg.Definitions(
        assets=[build_alerts_asset(unit, team, partitions) for unit, team in units]
    )
