"""The board sensor: after runs the Dagster daemon launches, the board is drawn again.

The nightly run in this process (``kpi run``, ``kpi demo``) draws the board when it ends
(``pipelines/runner.py``). Runs launched by the daemon (the schedule, the landing sensor, a
materialization started in the UI) end in another process: this sensor notices that what the
serving file serves changed since the board was drawn (a new file, night, log or alerts), and
draws it. It starts no run.
"""

import dagster as dg

from pipelines.board.page import redraw_if_stale
from pipelines.resources import Warehouse


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Draws the board (data/warehouse/board.html) again when what the serving warehouse "
        "serves changed since it was drawn. Starts no run."
    ),
)
def board_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SkipReason:
    page = redraw_if_stale(warehouse.settings())
    if page is None:
        return dg.SkipReason(
            "The board shows the current serving warehouse (or nothing is published yet)."
        )
    context.log.info(f"board drawn: {page}")
    return dg.SkipReason(f"Board drawn again: {page}")


defs = dg.Definitions(sensors=[board_sensor])
