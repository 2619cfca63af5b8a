"""The outbox sensor: undelivered alerts sent again between runs.

A run sends the earlier runs' undelivered alerts again when its night is over
(:func:`pipelines.runner.run_nightly`); a channel that recovers in the day would otherwise
wait for the next night. This sensor sends what is kept in ``alerts/undelivered.jsonl``
(:mod:`pipelines.alerts.outbox`) on its own interval, with the same rules: at least once,
an entry taken out by the delivery of its alert id to its channel. It starts no run.
"""

import dagster as dg

from pipelines.alerts import outbox
from pipelines.alerts.failed import channels_of_route
from pipelines.resources import Warehouse


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Sends the undelivered alerts (data/alerts/undelivered.jsonl) again, once each "
        "delivered. Starts no run."
    ),
)
def outbox_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SkipReason:
    settings = warehouse.settings()
    if not outbox.read(settings):
        return dg.SkipReason("No undelivered alerts.")
    results = outbox.resend(settings, channels_of_route)
    delivered = sum(1 for r in results if r.status == "delivered")
    left = len(outbox.read(settings))
    if delivered:
        context.log.info(f"{delivered} undelivered alert(s) delivered; {left} still kept")
    return dg.SkipReason(f"Sent again: {delivered} delivered, {left} still undelivered.")


defs = dg.Definitions(sensors=[outbox_sensor])
