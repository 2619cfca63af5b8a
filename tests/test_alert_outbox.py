"""Delivery that cannot stall the night (issue 45): channels at once within a time budget,
undelivered alerts kept and sent again by the next run, once per alert id and channel.

Real local servers: one that accepts connections and never answers, one that fails (HTTP
503) until it is told to recover."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
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


def bad_shop(tmp_path, monkeypatch, url: str, budget: float):
    """A shop whose orders file is refused at ingest (the night fails at once and tells the
    five teams and the operator: six messages), every channel a webhook to ``url``."""
    shop = make_shop(
        tmp_path, start=dt.date(2025, 3, 3), days=1, orders_per_day=20, faults={"missing_column": 1}
    )
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


def night(shop):
    with dg.instance_for_test() as instance:
        return run_nightly(
            build_defs(shop.data_dir), shop.start, shop.end, instance, log_level="CRITICAL"
        )


def test_a_webhook_that_never_answers_cannot_stretch_the_night(tmp_path, monkeypatch):
    with silent_server() as url:
        shop = bad_shop(tmp_path, monkeypatch, url, budget=3)
        began = time.monotonic()
        outcome = night(shop)
        took = time.monotonic() - began
    # six messages × 3 tries × a 10 s timeout would be 180 s; the budget holds it to 3 s
    assert len(outcome.notices) == 6
    assert took < 3 + 25, took
    assert {n["delivery_status"] for n in outcome.notices} == {"undelivered"}
    kept = outbox.read(shop.settings)
    assert sorted(e["alert_id"] for e in kept) == sorted(n["alert_id"] for n in outcome.notices)
    # the first message spent the budget waiting; the others were not even tried
    assert sum(1 for e in kept if e["error"] == BUDGET_SPENT) == 5
    assert not any(url in json.dumps(e) for e in kept)  # kept by its redacted target


def test_undelivered_alerts_are_sent_again_by_the_next_run_once_each(tmp_path, monkeypatch):
    flaky = Flaky()
    try:
        shop = bad_shop(tmp_path, monkeypatch, flaky.url, budget=30)
        first = night(shop)
        first_ids = {n["alert_id"] for n in first.notices}
        assert len(first_ids) == 6 and flaky.accepted == []
        assert flaky.refused == 6 * 3  # every message, every try
        assert {e["alert_id"] for e in outbox.read(shop.settings)} == first_ids

        flaky.failing = False
        second = night(shop)
        second_ids = {n["alert_id"] for n in second.notices}
        assert second_ids.isdisjoint(first_ids)
        # the second night's own notices, and the first night's once each
        assert Counter(flaky.accepted) == Counter(list(first_ids) + list(second_ids))
        assert {r.status for r in second.resent} == {"delivered"} and len(second.resent) == 6
        assert outbox.read(shop.settings) == []

        # nothing is kept, so a third night sends nothing again
        third = night(shop)
        assert third.resent == []
        assert len(flaky.accepted) == 18
    finally:
        flaky.close()
