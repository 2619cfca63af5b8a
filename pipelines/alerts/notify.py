"""A team's alerts for one night: judged on published data, explained, delivered, recorded.

Runs after the team's publication (``alerts/<unit>`` assets) and reads the serving warehouse
only, so only published, checked numbers are judged. A team whose publication was held back
(its gate failed) gets a "data held back" notice instead (``held_back_notice``), and no
metric alerts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import duckdb

from kpi_tree.formats import Formats
from kpi_tree.model import Tree
from pipelines.alerts.delivery import Channel, FileChannel, Message, deliver_all
from pipelines.alerts.detect import (
    BREAK,
    HELD_BACK,
    RECOVERED,
    Finding,
    Rules,
    is_break,
    pace_findings,
)
from pipelines.alerts.explain import explain_finding
from pipelines.alerts.store import append_alerts, read_alerts
from pipelines.queries import records as query_records
from pipelines.settings import Settings

PERIOD = "month"  # alerts judge the month to date


def channels_for(settings: Settings, team: str) -> list[Channel]:
    """The team's channels (kpi.yaml ``alerts.channels``, checked when it was read), else the
    default ones, else the file sink; file paths are under the data directory."""
    conf = settings.alerts.channels
    configs = conf.get(team) or conf.get("default") or (FileChannel(type="file"),)
    return [c.channel(base=settings.data_dir) for c in configs]


def _alert_id(*parts: Any) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _deliver(settings: Settings, team: str, message: Message) -> tuple[list[dict], str]:
    results = deliver_all(
        message,
        channels_for(settings, team),
        retries=settings.alerts.retries,
        backoff=settings.alerts.backoff_seconds,
    )
    deliveries = [
        {
            "channel": r.channel_type,
            "target": r.target,
            "status": r.status,
            "attempts": r.attempts,
            "error": r.error,
            "delivered_at": str(r.delivered_at) if r.delivered_at else None,
        }
        for r in results
    ]
    ok = sum(1 for d in deliveries if d["status"] == "delivered")
    status = "delivered" if ok == len(deliveries) else "undelivered" if ok == 0 else "partial"
    return deliveries, status


def _record(
    message: Message, run_id: str, finding: Finding | None, deliveries: list[dict], status: str
) -> dict[str, Any]:
    return {
        "alert_id": message.alert_id,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
        "day": message.day,
        "team": message.team,
        "kind": message.kind,
        "severity": message.severity,
        "kpi_id": message.kpi,
        "scope": finding.scope if finding else None,
        "period_grain": finding.period_grain if finding else None,
        "period_start": str(finding.period_start) if finding else None,
        "status": finding.status if finding else None,
        "attainment": finding.attainment if finding else None,
        "shortfall": finding.shortfall if finding else None,
        "title": message.title,
        "text": message.text,
        "delivery_status": status,
        "deliveries": deliveries,
        # the detection rules read these back on later nights
        "kpi": message.kpi,
    }


def _history_for_rules(history: list[dict]) -> list[dict]:
    return [{**h, "kpi": h.get("kpi") or h.get("kpi_id")} for h in history]


def break_findings(
    con: duckdb.DuckDBPyConnection, tree: Tree, unit: str, team: str, day: dt.date, rules: Rules
) -> list[Finding]:
    """Days far outside the KPI's own weekday-adjusted range (same weekday, last weeks)."""
    owned = [n for n in tree.nodes.values() if n.team == team and n.kind in ("sum", "ratio")]
    days = [day - dt.timedelta(weeks=w) for w in range(rules.break_weeks + 1)]
    values = query_records(
        con,
        f"select kpi_id, period_start, value, is_provisional from {unit}.kpi_values "
        "where grain = 'day' and dimension = 'total' and period_start in "
        f"({', '.join('?' for _ in days)})",
        days,
    )
    out = []
    for node in owned:
        series = {r["period_start"]: r for r in values if r["kpi_id"] == node.id}
        today = series.get(day)
        if today is None or today["value"] is None or today["is_provisional"]:
            continue
        past = [series[d]["value"] for d in days[1:] if d in series]
        if is_break(float(today["value"]), past, rules):
            out.append(
                Finding(
                    kind=BREAK,
                    severity="warning",
                    team=team,
                    kpi=node.id,
                    scope="all",
                    day=day,
                    period_grain="day",
                    period_start=day,
                    status=None,
                    attainment=None,
                    shortfall=None,
                    row={"value": float(today["value"]), "history": past},
                )
            )
    return out


def team_alerts(
    settings: Settings,
    tree: Tree,
    unit: str,
    team: str,
    day: dt.date,
    run_id: str,
    serving: duckdb.DuckDBPyConnection,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Judge one team's published KPIs on ``day``; deliver and record what is new."""
    rules = Rules(realert_points=settings.alerts.realert_points)
    rows = query_records(
        serving,
        f"select * from {unit}.kpi_vs_target where as_of_day = ? and period_grain = ? "
        "and not is_provisional",
        [day, PERIOD],
    )
    history = _history_for_rules(read_alerts(settings))
    findings = pace_findings(rows, history, rules)
    known_breaks = {
        (h["day"], h["kpi"]) for h in history if h["kind"] == BREAK and h["team"] == team
    }
    findings += [
        f
        for f in break_findings(serving, tree, unit, team, day, rules)
        if (day.isoformat(), f.kpi) not in known_breaks
    ]
    records = []
    for f in findings:
        title, text = explain_finding(serving, tree, f, settings.formats, settings.vocabulary)
        message = Message(
            alert_id=_alert_id(f.day, f.team, f.kpi, f.scope, f.kind),
            kind=f.kind,
            severity=f.severity,
            team=team,
            title=title,
            text=text,
            day=f.day.isoformat(),
            kpi=f.kpi,
            fields=_fields(f, tree, settings.formats),
        )
        deliveries, status = _deliver(settings, team, message)
        records.append(_record(message, run_id, f, deliveries, status))
        log(f"ALERT [{f.severity}] {team}: {text} ({status})")
    append_alerts(settings, records)
    return records


def _fields(f: Finding, tree: Tree, formats: Formats) -> dict[str, str]:
    out = {"scope": f.scope, "period": f"{f.period_grain} from {f.period_start}"}
    if f.attainment is not None:
        out["attainment"] = formats.share(f.attainment)
    r: Mapping[str, Any] = f.row
    for key in ("actual", "paced_target", "target", "projected"):
        if r.get(key) is not None:
            out[key] = formats.value(r[key], tree.nodes[f.kpi].unit)
    if f.kind == RECOVERED:
        out["note"] = "back on track"
    return out


def held_back_notice(
    settings: Settings,
    tree: Tree,
    unit: str,
    failures: list[str],
    run_id: str,
    start: dt.date,
    end: dt.date,
) -> dict[str, Any]:
    """Tell a team its data was held back (which checks failed), instead of metric alerts."""
    team_id = next((tid for tid, t in tree.teams.items() if t.get("mart") == unit), unit)
    team = tree.teams.get(team_id, {})
    window = f"{start}" if start == end else f"{start} .. {end}"
    title = f"{team.get('en', unit)} ({team.get('zh', '')}): data held back for {window}"
    text = (
        f"{team.get('en', unit)}'s KPIs for {window} were not published: "
        f"{len(failures)} quality check(s) failed, e.g. {failures[0] if failures else '?'}. "
        "The last good publication stays; no target alerts are judged on unchecked data."
    )
    message = Message(
        alert_id=_alert_id(end, team_id, None, None, HELD_BACK),
        kind=HELD_BACK,
        severity="warning",
        team=team_id,
        title=title,
        text=text,
        day=end.isoformat(),
        kpi=None,
        fields={"failed_checks": "; ".join(failures[:5])},
    )
    deliveries, status = _deliver(settings, team_id, message)
    record = _record(message, run_id, None, deliveries, status)
    append_alerts(settings, [record])
    return record
