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

``alerts/digest`` runs after every team's alerts: each team's morning digest (its KPIs against
pace, its open problems) to its channels (``digest.py``). Every message is worded in the
shop's language (kpi.yaml ``locale``).
"""

import dagster as dg
import duckdb

from expectations.verdict import read_verdict
from kpi_tree.model import default_tree
from kpi_tree.units import team_units
from pipelines.alerts.digest import push_digests, send_digests
from pipelines.alerts.notify import held_back_notice, team_alerts
from pipelines.alerts.store import SERVED_AS, served_table
from pipelines.i18n import use
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
from pipelines.settings import Settings


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
            verdict = read_verdict(settings.warehouse_dir, unit)
            # the verdict's failures are structured (frame, column, failing rows): the notice
            # words them for a reader; an older verdict leaves the log's descriptions
            failures = verdict.failures if verdict and verdict.run_id == run_id else failed
            with use(settings.locale):
                records = [
                    held_back_notice(
                        settings, tree, unit, failures, run_id, start, day, publication["report"]
                    )
                ]
            context.log.error(
                f"ALERT data held back: {unit} not published for {start} .. {day}; its last "
                f"good publication stays. Failed: {'; '.join(failed[:5])}"
            )
        else:
            with (
                duckdb.connect(str(serving_db(settings)), read_only=True) as serving,
                use(settings.locale),
            ):
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


def build_digest_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    units = team_units(default_tree())

    @dg.asset(
        key=["alerts", "digest"],
        deps=[dg.AssetKey(["alerts", unit]) for unit in units],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="alerts",
        kinds={"duckdb"},
        description=(
            "Each team's morning digest for the run's last day: its KPIs month to date against "
            "their paced targets and its open problems (short or at risk, unusual days, data "
            "held back), sent to the team's channels (kpi.yaml alerts.channels; alerts.digest "
            "turns it off). Sent again on a rerun only when it says something new."
        ),
    )
    def digest(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        settings = warehouse.settings()
        window = run_window(context, warehouse)
        if window is None:
            raise dg.Failure("the digest runs inside a partitioned run (a day or a range)")
        day, run_id = window.end, context.run.run_id
        sent = []
        if settings.alerts.digest and settings.alerts.digest_time is None:
            statuses = {}
            for unit in units:
                entry = run_entry(settings, unit, run_id)
                if entry is not None:
                    statuses[unit] = entry["status"]
            sent = send_digests(settings, default_tree(), day, run_id, statuses)
        undelivered = [r for r in sent if r["delivery_status"] != "delivered"]
        return dg.MaterializeResult(
            metadata={
                "day": day.isoformat(),
                "digests": len(sent),
                "teams": dg.MetadataValue.text(", ".join(r["team"] for r in sent) or "none"),
                "undelivered": len(undelivered),
                # pushed by the digest schedule instead, at the hour it is read
                "sent_at": settings.alerts.digest_time or "after the night",
            }
        )

    return digest


@dg.op(
    description=(
        "Each team's morning digest of the newest published night (its KPIs against pace, its "
        "open problems, the button to the board), pushed to its channels at alerts.digest_time."
    )
)
def push_digest(context: dg.OpExecutionContext, warehouse: Warehouse) -> None:
    sent = push_digests(warehouse.settings(), default_tree())
    context.log.info(
        f"digests pushed: {len(sent)} "
        f"({', '.join(r['team'] for r in sent) or 'none new'}); "
        f"undelivered: {sum(r['delivery_status'] != 'delivered' for r in sent)}"
    )


@dg.job(description="The morning digest at alerts.digest_time, apart from the nightly run.")
def morning_digest() -> None:
    push_digest()


def build_digest_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """``morning_digest`` every day at ``alerts.digest_time`` business time."""
    hour, minute = (int(p) for p in (settings.alerts.digest_time or "").split(":"))
    return dg.ScheduleDefinition(
        name="morning_digest_schedule",
        job=morning_digest,
        cron_schedule=f"{minute} {hour} * * *",
        execution_timezone=settings.business_timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Pushes each team's digest of the newest night at alerts.digest_time.",
    )


def build_defs(
    partitions: dg.PartitionsDefinition, settings: Settings | None = None
) -> dg.Definitions:
    """One alerts asset per team on ``partitions``, and the teams' morning digest; with
    ``alerts.digest_time`` in ``settings``, the digest's own job and schedule."""
    units = team_units(default_tree()).items()
    pushed = settings is not None and settings.alerts.digest_time is not None
    return dg.Definitions(
        assets=[
            *(build_alerts_asset(unit, team, partitions) for unit, team in units),
            build_digest_asset(partitions),
        ],
        jobs=[morning_digest] if pushed else [],
        schedules=[build_digest_schedule(settings)] if pushed else [],
    )
