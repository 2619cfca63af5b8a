"""Delivery that cannot stall the night (issue 45): channels at once within a time budget,
undelivered alerts kept and sent again by the next run, once per alert id and channel.

Real local servers: one that accepts connections and never answers, one that fails (HTTP
503) until it is told to recover."""

from __future__ import annotations

import csv
import datetime as dt
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
from conftest import make_shop

from pipelines.alerts import outbox
from pipelines.alerts.delivery import BUDGET_SPENT
from pipelines.definitions import build_defs
from pipelines.runner import run_nightly


@contextmanager
def silent_server() -> Iterator[str]:
    """A port that takes connections into its backlog and never reads or answers them."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()


class Flaky:
    """Answers 503 while ``failing``, then 200; records the alert id of every accepted post."""

    def __init__(self) -> None:
        self.failing = True
        self.accepted: list[str] = []
        self.refused = 0
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if flaky.failing:
                    flaky.refused += 1
                    self.send_response(503)
                else:
                    flaky.accepted.append(body["alert_id"])
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


#: the teams told when the orders file is refused: every unit reads orders, so each team's
#: unit is held back and its team gets the held-back notice (kpi_tree has no team of its own)
TEAMS = 5


def bad_shop(tmp_path, monkeypatch, url: str, budget: float):
    """A shop of two days whose first orders file is refused at ingest (its payment_method
    column dropped): every unit reads orders, so each of the five teams gets its held-back
    notice; every channel a webhook to ``url``."""
    shop = make_shop(tmp_path, start=dt.date(2025, 3, 3), days=2, orders_per_day=20, faults={})
    assert shop.end > shop.start
    path = shop.data_dir / "landing" / "orders" / f"orders_{shop.start}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with path.open("w", encoding="utf-8", newline="") as f:
        kept = [c for c in rows[0] if c != "payment_method"]
        writer = csv.DictWriter(f, kept, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    hook = [{"type": "webhook", "url": url}]
    config = tmp_path / "kpi.yaml"
    config.write_text(
        json.dumps(
            {
                "locale": "en_US",
                "alerts": {
                    "channels": {"default": hook},
                    "operator": hook,
                    "retries": 3,
                    "backoff_seconds": 0.2,
                    "budget_seconds": budget,
                    "digest": False,
                },
            }
        )
    )
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return shop


def night(shop, end: dt.date | None = None):
    """The night of the refused file's day, or of it through ``end`` (a held-back notice
    is one alert per team and last day: another ``end``, another alert)."""
    with dg.instance_for_test() as instance:
        outcome = run_nightly(
            build_defs(shop.data_dir), shop.start, end or shop.start, instance, log_level="CRITICAL"
        )
    assert outcome.exit_code == 1 and outcome.error is None and outcome.refused
    return outcome


def alert_steps_seconds(instance, run_id: str) -> float:
    """How long the run's alert steps took, together, from the run's own event log."""
    began: dict[str, float] = {}
    took = 0.0
    for entry in instance.all_logs(run_id):
        key, event = entry.step_key or "", entry.dagster_event
        if not key.startswith("alerts") or event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            began[key] = entry.timestamp
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            took += entry.timestamp - began.pop(key)
    assert not began  # every alert step that started ended
    return took


def notices(shop, outcome) -> list[dict]:
    """The held-back notices the night sent (or tried to), from the alert history."""
    path = shop.settings.data_dir / "alerts" / "alerts.jsonl"
    history = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
    return [h for h in history if h["run_id"] == outcome.run_id and h["kind"] == "held_back"]


def test_a_webhook_that_never_answers_cannot_stretch_the_night(tmp_path, monkeypatch):
    with silent_server() as url:
        shop = bad_shop(tmp_path, monkeypatch, url, budget=3)
        with dg.instance_for_test() as instance:
            outcome = run_nightly(
                build_defs(shop.data_dir), shop.start, shop.start, instance, log_level="CRITICAL"
            )
            took = alert_steps_seconds(instance, outcome.run_id)
    sent = notices(shop, outcome)
    # five messages × 3 tries × a 10 s timeout would be 150 s; the budget holds the night's
    # alert steps to 3 s and their own work
    assert len(sent) == TEAMS
    assert took < 3 + 12, took
    assert {n["delivery_status"] for n in sent} == {"undelivered"}
    kept = outbox.read(shop.settings)
    assert sorted(e["alert_id"] for e in kept) == sorted(n["alert_id"] for n in sent)
    # the first message spent the budget waiting; the others were not even tried
    assert sum(1 for e in kept if e["error"] == BUDGET_SPENT) == TEAMS - 1
    assert not any(url in json.dumps(e) for e in kept)  # kept by its redacted target


def test_undelivered_alerts_are_sent_again_by_the_next_run_once_each(tmp_path, monkeypatch):
    flaky = Flaky()
    try:
        shop = bad_shop(tmp_path, monkeypatch, flaky.url, budget=30)
        first = night(shop)
        first_ids = {n["alert_id"] for n in notices(shop, first)}
        assert len(first_ids) == TEAMS and flaky.accepted == []
        assert flaky.refused == TEAMS * 3  # every message, every try
        assert {e["alert_id"] for e in outbox.read(shop.settings)} == first_ids

        flaky.failing = False
        second = night(shop, shop.end)
        second_ids = {n["alert_id"] for n in notices(shop, second)}
        assert second_ids.isdisjoint(first_ids)
        # the second night's own notices, and the first night's once each
        assert Counter(flaky.accepted) == Counter(list(first_ids) + list(second_ids))
        assert {r.status for r in second.resent} == {"delivered"}
        assert len(second.resent) == TEAMS
        assert outbox.read(shop.settings) == []

        # nothing is kept, so a third night sends nothing again
        third = night(shop, shop.end)
        assert third.resent == []
        assert len(flaky.accepted) == 3 * TEAMS
    finally:
        flaky.close()


def test_the_outbox_sensor_sends_undelivered_alerts_again_between_runs(tmp_path, monkeypatch):
    from pipelines.alerts.sensor import outbox_sensor
    from pipelines.resources import Warehouse

    flaky = Flaky()
    try:
        shop = bad_shop(tmp_path, monkeypatch, flaky.url, budget=30)
        first = night(shop)
        first_ids = {n["alert_id"] for n in notices(shop, first)}
        assert len(first_ids) == TEAMS and flaky.accepted == []
        context = dg.build_sensor_context(
            resources={"warehouse": Warehouse(data_dir=str(shop.data_dir))}
        )

        # the channel still fails: the sensor tries, everything stays kept
        outbox_sensor(context)
        assert flaky.accepted == []
        assert {e["alert_id"] for e in outbox.read(shop.settings)} == first_ids

        flaky.failing = False
        outbox_sensor(context)
        assert Counter(flaky.accepted) == Counter(first_ids)  # each once
        assert outbox.read(shop.settings) == []
        # nothing kept: neither the sensor's next tick nor the next run sends it again
        outbox_sensor(context)
        second = night(shop, shop.end)
        assert second.resent == []
        assert Counter(flaky.accepted) == Counter(
            list(first_ids) + [n["alert_id"] for n in notices(shop, second)]
        )
    finally:
        flaky.close()
