"""Alerts: one asset per team, after the team's publication (published, checked data only).

A team whose gate failed is skipped here (its publication did not happen); its gate sends the
"data held back" notice instead (``pipelines/quality/checks.py``).
"""

import dagster as dg
import duckdb

from expectations.suites import TEAM_UNITS
from kpi_tree.model import default_tree
from pipelines.alerts.notify import team_alerts
from pipelines.partitions import daily, run_window
from pipelines.publish.serving import assemble_serving, serving_db
from pipelines.resources import WAREHOUSE_POOL, Warehouse


def build_alerts_asset(unit: str, team: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["alerts", unit],
        deps=[dg.AssetKey(["publish", unit])],
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,  # it rewrites the serving file (main.alerts): one at a time
        group_name="alerts",
        kinds={"duckdb"},
        description=(
            f"Alerts for {team}: its published KPIs short of (or at risk against) their paced "
            "target, explained down the tree; breaks from their own recent range; recoveries. "
            "Delivered to the team's channels (kpi.yaml alerts.channels), recorded in "
            "main.alerts of the serving warehouse."
        ),
    )
    def alerts(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        window = run_window(context.run.tags)
        if window is None:
            raise dg.Failure("alerts run inside a partitioned run (a day or a range)")
        day = window[1]  # the newest day of the run: the night being reported on
        with duckdb.connect(str(serving_db(settings)), read_only=True) as serving:
            records = team_alerts(
                settings,
                default_tree(),
                unit,
                team,
                day,
                context.run.run_id,
                serving,
                log=context.log.warning,
            )
        if records:
            assemble_serving(settings)
        undelivered = [r for r in records if r["delivery_status"] != "delivered"]
        return dg.MaterializeResult(
            metadata={
                "alerts": len(records),
                "undelivered": len(undelivered),
                "kinds": dg.MetadataValue.text(
                    ", ".join(sorted({r["kind"] for r in records})) or "none"
                ),
                "day": day.isoformat(),
            }
        )

    return alerts


alert_assets = [build_alerts_asset(unit, team) for unit, team in TEAM_UNITS.items()]
defs = dg.Definitions(assets=alert_assets)
