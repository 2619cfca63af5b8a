"""The morning digest: each team's KPIs against pace and its open problems, after the nightly
run, to its channels.

Alerts say what changed; the digest says where the team stands, every morning, whether or not
anything alerted: each of the team's KPIs month to date against its paced target (actual,
attainment, status), then its open problems: every KPI short or at risk today (the whole shop
or a scope), the day's breaks, and a held-back publication with what to do. It reads the
serving warehouse only (what was published); a held-back team's numbers are its last good
publication's, and the digest says as of which day.

Sent once per team and day: a rerun of the night sends it again only when what it says
changed (``data/alerts/digests.jsonl`` keeps what was sent, and where).

When: right after the nightly run, or, with ``alerts.digest_time`` (HH:MM business time, the
morning meeting's), pushed then by its own schedule (``alerts/assets.py``) with the newest
night the publication log records: the same digest, by the same path, at the hour it is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import duckdb

from kpi_tree.model import Tree
from kpi_tree.units import team_units
from pipelines.alerts.notify import deliver_to_team, message
from pipelines.alerts.store import alerts_dir, read_alerts
from pipelines.alerts.words import (
    STATUS,
    days_without,
    kpi_name,
    observed_text,
    scope_label,
    team_name,
    word,
)
from pipelines.i18n import _, use
from pipelines.publish.serving import HELD_BACK, SKIPPED, read_log, serving_db
from pipelines.queries import records, table_exists
from pipelines.settings import Settings

DIGEST_LOG = "digests.jsonl"
PERIOD = "month"
#: open problems listed in one message; the rest are counted
MAX_PROBLEMS = 8


def _pace(
    serving: duckdb.DuckDBPyConnection, unit: str, day: dt.date
) -> tuple[dt.date | None, list]:
    """The unit's month-to-date pace rows as of ``day``, or as of its newest published day
    before it (a held-back team)."""
    if not table_exists(serving, unit, "kpi_vs_target"):
        return None, []
    newest = serving.execute(
        f"select max(as_of_day) from {unit}.kpi_vs_target where period_grain = ? "
        "and as_of_day <= ?",
        [PERIOD, day],
    ).fetchall()[0][0]
    if newest is None:
        return None, []
    rows = records(
        serving,
        f"select * from {unit}.kpi_vs_target where as_of_day = ? and period_grain = ?",
        [newest, PERIOD],
    )
    return newest, rows


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def compose(
    settings: Settings,
    tree: Tree,
    unit: str,
    team: str,
    day: dt.date,
    serving: duckdb.DuckDBPyConnection,
    held_back: bool,
) -> tuple[str, str, dict[str, str], str] | None:
    """(title, text, fields, tone) of ``team``'s digest for ``day``; None when the team has
    nothing published and nothing held back to report on."""
    formats = settings.formats
    as_of, rows = _pace(serving, unit, day)
    if as_of is None and not held_back:
        return None
    order = {node_id: i for i, node_id in enumerate(tree.nodes)}
    rows.sort(key=lambda r: (r["scope"] != "all", order.get(r["kpi_id"], 0), r["scope"]))
    totals = [r for r in rows if r["scope"] == "all"]
    fields: dict[str, str] = {}
    for r in totals:
        node = tree.nodes[r["kpi_id"]]
        provisional = ""
        if r.get("is_provisional") and r.get("is_expected"):
            # judged on the expected final value; what has arrived so far, beside it
            provisional = " " + _("(provisional; observed so far: {observed})").format(
                observed=observed_text(formats, r.get("observed_actual"), node.unit)
            )
        elif r.get("is_provisional"):
            provisional = " " + _("(provisional)")
        if r.get("missing_days"):
            provisional += " " + _("(incomplete: {days})").format(days=days_without(tree, r))
        fields[kpi_name(node)] = (
            _("{actual} · {attainment} of pace · {status}").format(
                actual=formats.value(_number(r["actual"]), node.unit),
                attainment=formats.share(_number(r["attainment"])),
                status=word(STATUS, r["status"]),
            )
            + provisional
        )
    open_rows = [r for r in rows if r["status"] in ("short", "at_risk")]
    lines = []
    for r in open_rows:
        node = tree.nodes[r["kpi_id"]]
        where = scope_label(settings.vocabulary, r)
        lines.append(
            _("{kpi}{scope}: {status}, {attainment} of pace ({actual} against {paced})").format(
                kpi=kpi_name(node),
                scope=_(" ({scope})").format(scope=where) if where else "",
                status=word(STATUS, r["status"]),
                attainment=formats.share(_number(r["attainment"])),
                actual=formats.value(_number(r["actual"]), node.unit),
                paced=formats.value(_number(r["paced_target"]), node.unit),
            )
        )
    for alert in read_alerts(settings):
        if alert["team"] != team or alert["day"] != day.isoformat():
            continue
        if alert["kind"] == "break":
            lines.append(alert["title"])
        elif alert["kind"] == "held_back":  # what to do, as the notice says it
            lines += [line[2:] for line in alert["text"].splitlines() if line.startswith("• ")]
    on_track = sum(1 for r in totals if r["status"] == "on_track")
    name = team_name(tree, team)
    title = _("{team}: morning digest for {day}").format(team=name, day=day)
    text = _("{on_track} of {total} KPIs on pace month to date; {open} open problems.").format(
        on_track=on_track, total=len(totals), open=len(lines)
    )
    if as_of is None:  # held back, and nothing of the team published before
        text = _("The data of {day} was held back: nothing of the team is published yet.").format(
            day=day
        )
    elif held_back or as_of < day:
        text += "\n" + _(
            "The data of {day} was held back: the numbers are as of {as_of}, its last good "
            "publication."
        ).format(day=day, as_of=as_of)
    if lines:
        text += "\n" + _("Open problems:")
        text += "".join(f"\n• {line}" for line in lines[:MAX_PROBLEMS])
        if len(lines) > MAX_PROBLEMS:
            text += "\n• " + _("… and {n} more on the board").format(n=len(lines) - MAX_PROBLEMS)
    tone = (
        "critical"
        if any(r["status"] == "short" for r in open_rows)
        else ("warning" if lines or held_back else "good")
    )
    return title, text, fields, tone


def digest_log(settings: Settings) -> list[dict[str, Any]]:
    path = alerts_dir(settings) / DIGEST_LOG
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def send_digest(
    settings: Settings,
    tree: Tree,
    unit: str,
    team: str,
    day: dt.date,
    run_id: str,
    serving: duckdb.DuckDBPyConnection,
    held_back: bool = False,
) -> dict[str, Any] | None:
    """Compose ``team``'s digest for ``day`` and send it to the team's channels, unless the
    same digest was sent already; the record of what was sent, or None."""
    composed = compose(settings, tree, unit, team, day, serving, held_back)
    if composed is None:
        return None
    title, text, fields, colour = composed
    digest_hash = hashlib.sha256(
        json.dumps([title, text, fields], ensure_ascii=False).encode()
    ).hexdigest()[:16]
    for sent in digest_log(settings):
        if (sent["team"], sent["day"], sent["hash"]) == (team, day.isoformat(), digest_hash) and (
            sent["delivery_status"] != "undelivered"
        ):
            return None
    out = message(
        settings,
        tree,
        alert_id=f"digest-{team}-{day.isoformat()}-{digest_hash[:8]}",
        kind="digest",
        severity="info",
        team=team,
        title=title,
        text=text,
        day=day.isoformat(),
        fields=fields,
        colour=colour,
    )
    deliveries, status = deliver_to_team(settings, team, out, run_id)
    record = {
        "team": team,
        "day": day.isoformat(),
        "run_id": run_id,
        "hash": digest_hash,
        "sent_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
        "title": title,
        "text": text,
        "fields": fields,
        "delivery_status": status,
        "deliveries": deliveries,
    }
    path = alerts_dir(settings) / DIGEST_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record


def send_digests(
    settings: Settings, tree: Tree, day: dt.date, run_id: str, statuses: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Each team's digest for ``day`` (the night ``run_id`` published, ``statuses``: unit ->
    its publication status that night; a skipped unit has none), in the shop's language; the
    records of what was sent."""
    sent: list[dict[str, Any]] = []
    if not serving_db(settings).exists():
        return sent
    with (
        duckdb.connect(str(serving_db(settings)), read_only=True) as serving,
        use(settings.locale),
    ):
        for unit, team in team_units(tree).items():
            status = statuses.get(unit)
            if status is None or status == SKIPPED:
                continue
            record = send_digest(
                settings, tree, unit, team, day, run_id, serving, held_back=status == HELD_BACK
            )
            if record is not None:
                sent.append(record)
    return sent


def newest_night(settings: Settings) -> tuple[str, dt.date, dict[str, str]] | None:
    """The newest night of the publication log: its run, its day and what it did with each
    unit; None before the first."""
    log = read_log(settings)
    if not log:
        return None
    run_id = log[-1]["run_id"]
    entries = {e["unit"]: e for e in log if e["run_id"] == run_id}
    day = max(dt.date.fromisoformat(e["data_as_of"]) for e in entries.values())
    return run_id, day, {unit: e["status"] for unit, e in entries.items()}


def push_digests(settings: Settings, tree: Tree) -> list[dict[str, Any]]:
    """The digest at ``alerts.digest_time``: each team's of the newest night."""
    night = newest_night(settings)
    if night is None or not settings.alerts.digest:
        return []
    run_id, day, statuses = night
    return send_digests(settings, tree, day, run_id, statuses)
