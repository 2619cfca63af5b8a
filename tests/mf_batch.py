"""Run many MetricFlow queries in one process, as `mf query` runs one (tests only).

`mf query` loads the dbt project and its profile for every call, seconds each; the semantic
layer's test asks hundreds of questions. This script does what the command does
(dbt_metricflow.cli.main.query: the CLI's configuration set up from the working directory,
then ``MetricFlowEngine.query``) once per request, in a process of its own so that dbt's
global state stays out of the test's. Reads a JSON list of ``{"metrics": [...],
"group_by": [...]}`` on stdin and writes a JSON list of ``{"columns": [...], "rows": [...]}``
(dates and decimals as strings), or ``{"error": "..."}`` for a request MetricFlow refused.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys


def _plain(value):
    if isinstance(value, dt.date | dt.datetime | decimal.Decimal):
        return str(value)
    return value


def main() -> int:
    from dbt_metricflow.cli.cli_configuration import CLIConfiguration
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    requests = json.load(sys.stdin)
    cfg = CLIConfiguration()
    cfg.setup()
    out = []
    for request in requests:
        try:
            result = cfg.mf.query(
                MetricFlowQueryRequest.create(
                    metric_names=request["metrics"], group_by_names=request["group_by"]
                )
            )
        except Exception as e:  # the test reports which request failed, and why
            out.append({"error": f"{type(e).__name__}: {e}"})
            continue
        table = result.result_df
        out.append(
            {
                "columns": list(table.column_names),
                "rows": [[_plain(v) for v in row] for row in table.rows],
            }
        )
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
