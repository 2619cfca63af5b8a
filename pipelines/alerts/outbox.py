"""Undelivered alerts, kept and sent again: at least once, once per alert id and channel.

A delivery that failed (a dead webhook, the night's time budget spent) leaves the message in
``<data dir>/alerts/undelivered.jsonl``, one line per alert id and channel, so that the next
run sends it again (:func:`resend`, called by :func:`pipelines.runner.run_nightly` when its
night is over, within what is left of its budget). A later delivery of the same alert id
to the same channel, by a resend or by a run that raises the alert again, takes it out. The
channel is kept as its route (the team, or the operator) and its redacted target, and found
again in kpi.yaml when resent: no URL, secret or password is written.

The time budget (``alerts.budget_seconds``) is one deadline per run and process: every
delivery of the run shares it (:func:`deadline`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines.alerts.delivery import (
    Channel,
    DeliveryResult,
    Mention,
    Message,
    _target,
    deliver_all,
)
from pipelines.alerts.store import alerts_dir
from pipelines.settings import Settings

UNDELIVERED = "undelivered.jsonl"

_deadlines: dict[str, float] = {}
_deadlines_lock = threading.Lock()


def deadline(settings: Settings, run_id: str | None) -> float:
    """The monotonic time the run's deliveries must be over by: its first delivery's time
    plus ``alerts.budget_seconds``; a delivery outside a run gets a budget of its own."""
    budget = float(settings.alerts.budget_seconds)
    if run_id is None:
        return time.monotonic() + budget
    with _deadlines_lock:
        return _deadlines.setdefault(run_id, time.monotonic() + budget)


def forget(run_id: str) -> None:
    """The run is over: its deadline is not needed (a long-lived process runs many)."""
    with _deadlines_lock:
        _deadlines.pop(run_id, None)


def _path(settings: Settings) -> Path:
    return alerts_dir(settings) / UNDELIVERED


def _key(entry: dict[str, Any]) -> tuple[str, str, str]:
    return (entry["alert_id"], entry["channel"], entry["target"])


def read(settings: Settings) -> list[dict[str, Any]]:
    path = _path(settings)
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


def _write(settings: Settings, entries: list[dict[str, Any]]) -> None:
    path = _path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8"
    )
    tmp.replace(path)


#: the alert steps that write the file share the build pool (one at a time); the channels of
#: one message are delivered from threads of one process
_file_lock = threading.Lock()


def update(
    settings: Settings, route: str, message: Message, results: list[DeliveryResult], run_id: str
) -> None:
    """Keep each failed delivery of ``message`` (one entry per alert id and channel); drop
    the entries its successful deliveries answer."""
    with _file_lock:
        alerts_dir(settings).mkdir(parents=True, exist_ok=True)
        entries = {_key(e): e for e in read(settings)}
        before = dict(entries)
        for r in results:
            key = (message.alert_id, r.channel_type, r.target)
            if r.status == "delivered":
                entries.pop(key, None)
            else:
                entries.setdefault(
                    key,
                    {
                        "alert_id": message.alert_id,
                        "channel": r.channel_type,
                        "target": r.target,
                        "route": route,
                        "run_id": run_id,
                        "message": asdict(message),
                    },
                )
                entries[key]["error"] = r.error
        if entries != before or _path(settings).exists():
            _write(settings, list(entries.values()))


def _message(data: dict[str, Any]) -> Message:
    mentions = tuple(Mention(**m) for m in data.get("mentions") or ())
    return Message(**{**data, "mentions": mentions})


def resend(
    settings: Settings,
    channels_of: Callable[[Settings, str], list[Channel]],
    run_id: str | None = None,
) -> list[DeliveryResult]:
    """Send every message an earlier run kept again to its channel (found again by its
    route and target; one that is no longer configured stays kept), within the run's
    delivery budget; returns what each send did."""
    entries = [e for e in read(settings) if run_id is None or e["run_id"] != run_id]
    if not entries:
        return []
    stop = deadline(settings, run_id)
    out = []
    for entry in entries:
        channel = next(
            (
                c
                for c in channels_of(settings, entry["route"])
                if c.type == entry["channel"] and _target(c) == entry["target"]
            ),
            None,
        )
        if channel is None:
            continue
        message = _message(entry["message"])
        results = deliver_all(
            message,
            [channel],
            retries=settings.alerts.retries,
            backoff=settings.alerts.backoff_seconds,
            deadline=stop,
        )
        update(settings, entry["route"], message, results, entry["run_id"])
        out.extend(results)
    return out
