"""A failed night told: a publication log row per unit it stopped, and a notice to the people.

A run that fails before its units are judged (a file refused at ingest, a build error, a
gate that could not run, a publish that stopped, the warehouse file locked by another
program) has no held-back notice to send: the alert steps never run. So when the run is over
(:func:`pipelines.runner.run_nightly`) every unit the run neither published, held back nor
skipped gets a ``failed`` row in the publication log with the reason, each team owning one
gets a notice (its channels, its owners @-mentioned) and the operator channel
(``alerts.operator``, else the ``default`` channels) gets one notice naming every unit it
stopped. The words say which step, what it said (an ingest error names the file, row, column
and rule) and what to do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kpi_tree.model import Tree
from kpi_tree.units import SHARED_UNIT, team_units
from pipelines.alerts.delivery import FileChannel, Message
from pipelines.alerts.notify import (
    alert_id_of,
    alert_record,
    channels_for,
    deliver_to_channels,
    message,
)
from pipelines.alerts.store import append_alerts
from pipelines.alerts.words import joined, team_name
from pipelines.i18n import _
from pipelines.publish.serving import FAILED, LogEntry, append_log, now_utc
from pipelines.resources import LOCKED, LOCKED_WORDS
from pipelines.settings import Settings

#: an alert's kind: the night failed before the unit could be judged
RUN_FAILED = "run_failed"
#: the operator's notices are recorded under this team name
OPERATOR = "operator"

INGEST, BUILD, GATE, PUBLISH, LOCK, OTHER = "ingest", "build", "gate", "publish", "lock", "other"


def stage(step_key: str | None, error: str) -> str:
    """Which part of the night failed, from the failed step (``raw__orders``,
    ``publish__marketing``, ``..._gate``) and its error (a lock on the build file)."""
    if LOCKED in error or LOCKED_WORDS in error:
        return LOCK
    key = step_key or ""
    if key.startswith("raw__") or key.startswith("raw_"):
        return INGEST
    if key.startswith("publish") or key == "serving":
        return PUBLISH
    if "gate" in key:
        return GATE
    if key:
        return BUILD
    return OTHER


def _todo(kind: str, command: str) -> str:
    todo = {
        INGEST: _(
            "Correct or deliver again the file it names in its landing folder, then run {command}."
        ),
        BUILD: _("Read the run's log, repair what it names, then run {command}."),
        GATE: _("The quality checks could not run: read the run's log, then run {command}."),
        PUBLISH: _(
            "The last good publication stays: free what the error names (disk, file), "
            "then run {command}."
        ),
        LOCK: _(
            "Another program holds the warehouse file: close it (the process named above), "
            "then run {command}."
        ),
    }.get(kind, _("Read the run's log, then run {command}."))
    return todo.format(command=command)


def step_words(kind: str) -> str:
    return {
        INGEST: _("reading the delivered files"),
        BUILD: _("building the KPIs"),
        GATE: _("the quality checks"),
        PUBLISH: _("publishing"),
        LOCK: _("opening the warehouse"),
    }.get(kind, _("the nightly run"))


def operator_channels(settings: Settings) -> list:
    conf = settings.alerts
    configs = conf.operator or conf.channels.get("default") or (FileChannel(type="file"),)
    return [c.channel(base=settings.data_dir) for c in configs]


def channels_of_route(settings: Settings, route: str) -> list:
    """A kept alert's channels again: the operator's, or its team's."""
    return operator_channels(settings) if route == OPERATOR else channels_for(settings, route)


def failed_night(
    settings: Settings,
    tree: Tree,
    run_id: str,
    start: dt.date,
    end: dt.date,
    error: str,
    step_key: str | None,
    stopped: list[str],
    logged: list[str] = (),  # type: ignore[assignment]
) -> list[dict[str, Any]]:
    """Log and tell a failed night. ``stopped``: the units the run did not publish, hold back
    or skip; ``logged``: those of them whose own step logged the failure already (a publish
    that failed midway). Returns the alert records (also appended to the alert history)."""
    kind = stage(step_key, error)
    window = f"{start}" if start == end else f"{start} .. {end}"
    command = (
        f"`kpi run --date {end}`" if start == end else f"`kpi run --start {start} --end {end}`"
    )
    note = f"{kind}: {error}"
    for unit in stopped:
        if unit not in logged:
            append_log(
                settings,
                LogEntry(
                    unit=unit,
                    run_id=run_id,
                    status=FAILED,
                    published_at=now_utc(),
                    data_as_of=end.isoformat(),
                    window_start=start.isoformat(),
                    notes=[note],
                ),
            )
    team_of = team_units(tree)
    why = _("The nightly run failed while {step}: {error}").format(
        step=step_words(kind), error=error.strip()
    )
    todo = _todo(kind, command)
    records = []

    def send(team: str, title: str, text: str, channels: list) -> None:
        out: Message = message(
            settings,
            tree,
            alert_id=alert_id_of(run_id, team, RUN_FAILED),
            kind=RUN_FAILED,
            severity="critical",
            team=team,
            title=title,
            text=text,
            day=end.isoformat(),
            fields={_("Step"): step_words(kind)},
        )
        deliveries, status = deliver_to_channels(settings, team, channels, out, run_id)
        records.append(alert_record(out, run_id, None, deliveries, status))

    for unit in stopped:
        team = team_of.get(unit)
        if team is None or unit == SHARED_UNIT:
            continue
        name = team_name(tree, team)
        send(
            team,
            _("{team}: KPIs not published for {window}").format(team=name, window=window),
            _(
                "{team}'s KPIs for {window} were not published; the last good publication stays."
            ).format(team=name, window=window)
            + f"\n• {why}\n• {todo}",
            channels_for(settings, team),
        )
    if stopped:
        send(
            OPERATOR,
            _("The nightly run failed for {window}").format(window=window),
            _("Not published: {units}.").format(units=joined(list(stopped)))
            + f"\n• {why}\n• {todo}",
            operator_channels(settings),
        )
    append_alerts(settings, records)
    return records
