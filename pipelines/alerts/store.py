"""The alert history: append-only JSON lines beside the data, and a table in the serving file.

Every alert raised is recorded once, with what was delivered where (``deliveries``) and its
overall ``status`` (delivered / partly delivered / undelivered); a failed delivery is kept, never
lost. The alerts step writes the history into ``main.alerts`` of the serving warehouse through
the publish step's API (:func:`served_table`, :func:`pipelines.publish.serving.assemble_serving`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.publish.serving import ServedTable
from pipelines.settings import Settings

ALERT_LOG = "alerts.jsonl"
SERVED_AS = "alerts"  # main.alerts in the serving warehouse
DESCRIPTION = (
    "Every alert raised (pace shortfalls, breaks, recoveries, held-back notices): what, for "
    "which team, when, its explanation, and where it was delivered (deliveries, "
    "delivery_status: delivered / partial / undelivered)."
)
COLUMNS = (
    ("alert_id", "varchar"),
    ("run_id", "varchar"),
    ("created_at", "timestamp"),
    ("day", "date"),
    ("team", "varchar"),
    ("kind", "varchar"),
    ("severity", "varchar"),
    ("kpi_id", "varchar"),
    ("scope", "varchar"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("status", "varchar"),
    ("attainment", "double"),
    ("shortfall", "double"),
    ("title", "varchar"),
    ("text", "varchar"),
    ("delivery_status", "varchar"),
    ("deliveries", "json"),
)


def alerts_dir(settings: Settings) -> Path:
    return settings.data_dir / "alerts"


def read_alerts(settings: Settings) -> list[dict[str, Any]]:
    path = alerts_dir(settings) / ALERT_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def append_alerts(settings: Settings, records: list[dict[str, Any]]) -> None:
    if not records:
        return
    path = alerts_dir(settings) / ALERT_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")


def serving_rows(settings: Settings) -> list[list[Any]]:
    """The history as rows of ``main.alerts`` (deliveries as JSON text)."""
    out = []
    for r in read_alerts(settings):
        row = []
        for name, _ in COLUMNS:
            value = r.get(name)
            row.append(json.dumps(value, ensure_ascii=False) if name == "deliveries" else value)
        out.append(row)
    return out


COLUMN_DESCRIPTIONS = {
    "alert_id": "The alert's id: the same finding on a later night keeps it (re-alerts and "
    "recoveries refer to it).",
    "run_id": "The Dagster run that raised it.",
    "created_at": "When it was raised (UTC).",
    "day": "The night reported on: the newest day of the run.",
    "team": "The team it is for (its owners).",
    "kind": "short or at_risk (behind its paced target), break (far from its recent range), "
    "recovered, or held_back (the team's data was not published).",
    "severity": "info, warning or critical.",
    "kpi_id": "The KPI (a node of kpi_tree/tree.yaml); empty for a held-back notice.",
    "scope": "all (the whole shop) or <allocation>:<unit> of the target it is judged against.",
    "period_grain": "The pace period: month, quarter or year (to date).",
    "period_start": "First day of that period.",
    "status": "The KPI's pace status: on_track, at_risk or short.",
    "attainment": "actual / paced target (inverted for lower-is-better KPIs).",
    "shortfall": "How far behind the paced target, as a share of it.",
    "title": "The alert's one-line title, in business words.",
    "text": "The alert's text, with the drivers that explain it.",
    "delivery_status": "delivered, partial or undelivered.",
    "deliveries": "Each channel it was sent to, with the outcome and attempts (JSON).",
}


def served_table(settings: Settings) -> ServedTable:
    """The whole history as the serving file's ``main.alerts``."""
    return ServedTable(SERVED_AS, COLUMNS, serving_rows(settings), DESCRIPTION, COLUMN_DESCRIPTIONS)
