"""A team's alerts for one night: judged on published data, explained, delivered, recorded.

Runs after the team's publication (``alerts/<unit>`` assets) and reads the serving warehouse
only, so only published, checked numbers are judged. A team whose publication was held back
(its gate failed) gets a "data held back" notice instead (``held_back_notice``), in business
words (``heldback.py``), and no metric alerts.

Every message is worded in the shop's language (``pipelines.i18n``, kpi.yaml ``locale``),
carries a button to the board when the board has an address readers reach (``serve.base_url``)
and @-mentions the team's owners (``alerts.owners``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import duckdb

from expectations.verdict import Failure
from kpi_tree.model import Tree
from kpi_tree.units import team_units
from pipelines.alerts import outbox
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
from pipelines.alerts.heldback import problems
from pipelines.alerts.store import append_alerts, read_alerts
from pipelines.alerts.words import (
    STATUS,
    TO_DATE,
    observed_text,
    scope_label,
    team_name,
    word,
)
from pipelines.i18n import _
from pipelines.links import board_url, report_link
from pipelines.queries import records as query_records
from pipelines.settings import Settings

PERIOD = "month"  # alerts judge the month to date


def channels_for(settings: Settings, team: str) -> list[Channel]:
    """The team's channels (kpi.yaml ``alerts.channels``, checked when it was read), else the
    default ones, else the file sink; file paths are under the data directory."""
    conf = settings.alerts.channels
    configs = conf.get(team) or conf.get("default") or (FileChannel(type="file"),)
    return [c.channel(base=settings.data_dir) for c in configs]


def tone(kind: str, severity: str) -> str:
    """The status colour of a message: green when recovered, else by its severity."""
    if kind == RECOVERED:
        return "good"
    return severity if severity in ("critical", "warning") else "info"


def message(
    settings: Settings,
    tree: Tree,
    *,
    alert_id: str,
    kind: str,
    severity: str,
    team: str,
    title: str,
    text: str,
    day: str,
    kpi: str | None = None,
    fields: dict[str, str] | None = None,
    colour: str | None = None,
) -> Message:
    """A message for ``team``'s channels, with what every message has: the button to the
    board, the team's owners to @-mention, the team and the day in a last line."""
    return Message(
        alert_id=alert_id,
        kind=kind,
        severity=severity,
        team=team,
        title=title,
        text=text,
        day=day,
        kpi=kpi,
        fields=fields or {},
        link=board_url(settings),
        link_text=_("Open the board"),
        mentions=tuple(o.mention() for o in settings.alerts.owners.get(team, ())),
        note=_("{team} · {day}").format(team=team_name(tree, team), day=day),
        tone=colour or tone(kind, severity),
    )


def alert_id_of(*parts: Any) -> str:
    """An alert's id from what makes it the same alert (its day, team, KPI, scope, kind): a
    rerun or a re-send of the same alert keeps its id."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def deliver_to_team(
    settings: Settings, team: str, message: Message, run_id: str | None = None
) -> tuple[list[dict], str]:
    return deliver_to_channels(settings, team, channels_for(settings, team), message, run_id)


def deliver_to_channels(
    settings: Settings,
    route: str,
    channels: list[Channel],
    message: Message,
    run_id: str | None = None,
) -> tuple[list[dict], str]:
    """Deliver to all ``channels`` at once within the run's time budget; what fails is kept
    for the next run (:mod:`pipelines.alerts.outbox`), ``route`` says whose channels."""
    results = deliver_all(
        message,
        channels,
        retries=settings.alerts.retries,
        backoff=settings.alerts.backoff_seconds,
        deadline=outbox.deadline(settings, run_id),
    )
    outbox.update(settings, route, message, results, run_id or "")
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


def alert_record(
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
        # a provisional KPI is judged on its expected final value, as pace and the board judge
        # it; one without an expected value (a carrier's slice) has only its observed part so
        # far, which would read as a shortfall that is not one
        f"select * from {unit}.kpi_vs_target where as_of_day = ? and period_grain = ? "
        "and (not is_provisional or is_expected)",
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
        out = message(
            settings,
            tree,
            alert_id=alert_id_of(f.day, f.team, f.kpi, f.scope, f.kind),
            kind=f.kind,
            severity=f.severity,
            team=team,
            title=title,
            text=text,
            day=f.day.isoformat(),
            kpi=f.kpi,
            fields=_fields(f, tree, settings),
        )
        deliveries, status = deliver_to_team(settings, team, out, run_id)
        records.append(alert_record(out, run_id, f, deliveries, status))
        log(f"ALERT [{f.severity}] {team}: {text} ({status})")
    append_alerts(settings, records)
    return records


def _fields(f: Finding, tree: Tree, settings: Settings) -> dict[str, str]:
    """The finding's numbers, labelled for a reader and written by the shop's formats."""
    formats = settings.formats
    out = {}
    where = scope_label(settings.vocabulary, dict(f.row))
    if where:
        out[_("Scope")] = where
    out[_("Period")] = _("{period}, from {start}").format(
        period=word(TO_DATE, f.period_grain), start=f.period_start
    )
    if f.status is not None:
        out[_("Status")] = word(STATUS, f.status)
    if f.attainment is not None:
        out[_("Attainment")] = formats.share(f.attainment)
    r: Mapping[str, Any] = f.row
    labels = {
        "actual": _("Actual"),
        "paced_target": _("Paced target"),
        "target": _("Target"),
        "projected": _("Projected"),
        "value": _("Value"),
    }
    if r.get("is_expected"):
        labels["actual"] = _("Expected final value")
    for key, label in labels.items():
        if r.get(key) is not None and not isinstance(r[key], (list, dict)):
            out[label] = formats.value(float(r[key]), tree.nodes[f.kpi].unit)
    if r.get("is_expected"):
        # what has arrived so far, marked as such, beside the expected value judged
        out[_("Observed so far")] = observed_text(
            formats, r.get("observed_actual"), tree.nodes[f.kpi].unit
        )
    return out


def held_back_notice(
    settings: Settings,
    tree: Tree,
    unit: str,
    failures: list[Failure] | list[str],
    run_id: str,
    start: dt.date,
    end: dt.date,
    report: str | None = None,
) -> dict[str, Any]:
    """Tell a team its data was held back, in business words (which file, which day, what to
    do: ``heldback.py``), instead of metric alerts. ``failures`` are the verdict's (or, from
    an older log, their descriptions); ``report`` is the quality report (the publication
    log's, relative to the data directory)."""
    team_id = team_units(tree).get(unit, unit)
    team = team_name(tree, team_id)
    window = f"{start}" if start == end else f"{start} .. {end}"
    title = _("{team}: data held back for {window}").format(team=team, window=window)
    folders = {name: source.folder for name, source in settings.sources.items()}
    structured = [f for f in failures if isinstance(f, Failure)]
    lines = [
        str(p)
        for p in problems(
            structured, tree, settings.vocabulary, settings.formats, folders, start, end
        )
    ] + [f for f in failures if isinstance(f, str)]
    text = _(
        "{team}'s KPIs for {window} were not published: their quality checks found a problem "
        "in the data. The last good publication stays, and no target is judged on unchecked "
        "data."
    ).format(team=team, window=window)
    text += "".join(f"\n• {line}" for line in lines[:6])
    if len(lines) > 6:
        text += "\n• " + _("… and {n} more (see the quality report)").format(n=len(lines) - 6)
    fields = {}
    link = report_link(settings, report)
    if link:
        fields[_("Quality report")] = link
    out = message(
        settings,
        tree,
        alert_id=alert_id_of(end, team_id, None, None, HELD_BACK),
        kind=HELD_BACK,
        severity="warning",
        team=team_id,
        title=title,
        text=text,
        day=end.isoformat(),
        fields=fields,
    )
    deliveries, status = deliver_to_team(settings, team_id, out, run_id)
    record = alert_record(out, run_id, None, deliveries, status)
    append_alerts(settings, [record])
    return record
