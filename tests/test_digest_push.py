"""The morning digest pushed at its configured hour (kpi.yaml ``alerts.digest_time``), apart
from the nightly run: the night sends its alerts and no digest; the digest schedule's job then
sends each team the board's headline of the newest night (its KPIs against pace, its open
problems, the button to the board at ``serve.base_url``), to a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import duckdb
import pytest
from conftest import accept_sample_gap

from kpi_tree.model import default_tree
from kpi_tree.units import team_units
from pipelines.alerts.words import kpi_name
from pipelines.definitions import build_defs
from pipelines.i18n import _, use
from pipelines.publish.serving import serving_db

BASE_URL = "https://kpi.shop.example/"


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server that answers 200 and keeps every JSON body it was posted."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                received.append(json.loads(body.decode("utf-8")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_the_digest_waits_for_its_hour_and_then_brings_each_team_the_board(
    shop_copy, chat, tmp_path, monkeypatch
):
    url, received = chat
    config = tmp_path / "kpi.yaml"
    config.write_text(
        'alerts:\n  digest_time: "08:30"\n  channels:\n    default:\n'
        f"      - {{type: webhook, url: '{url}'}}\n"
        f"serve:\n  base_url: '{BASE_URL}'\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KPI_CONFIG", str(config))
    for name in ("alerts.jsonl", "digests.jsonl"):  # the last night judged and told afresh
        (shop_copy.data_dir / "alerts" / name).unlink(missing_ok=True)
    accept_sample_gap(shop_copy)  # the sample's missing sessions day is earlier
    end = shop_copy.end
    outcome = shop_copy.run(end, end)
    assert outcome.success, outcome.error
    # the night told its alerts, and kept the digest for its hour
    assert received, "the night's alerts reach the channel"
    assert not [m for m in received if m["kind"] == "digest"]
    received.clear()

    defs = build_defs(shop_copy.data_dir)
    schedule = defs.get_schedule_def("morning_digest_schedule")
    assert schedule.cron_schedule == "30 8 * * *"
    assert schedule.execution_timezone == shop_copy.settings.business_timezone
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.get_job_def(schedule.job_name).execute_in_process(instance=instance)
    assert result.success

    units = team_units(default_tree())
    provisional_seen = 0
    digests = {m["team"]: m for m in received if m["kind"] == "digest"}
    assert set(digests) == set(units.values()) and len(received) == len(units)
    formats, tree = shop_copy.settings.formats, default_tree()
    with duckdb.connect(str(serving_db(shop_copy.settings)), read_only=True) as con:
        for unit, team in units.items():
            message = digests[team]
            assert message["day"] == end.isoformat()
            assert message["link"] == f"{BASE_URL}warehouse/board.html"
            # each of the team's KPIs month to date, by a plain query, as the shop writes it
            rows = con.execute(
                f"select kpi_id, actual from {unit}.kpi_vs_target where as_of_day = ? and "
                "period_grain = 'month' and scope = 'all'",
                [end],
            ).fetchall()
            assert rows and len(message["fields"]) == len(rows)
            shown = " ".join(message["fields"].values())
            for kpi, actual in rows:
                assert formats.value(actual, tree.nodes[kpi].unit) in shown, (team, kpi, shown)
            # a provisional KPI judged on its expected value shows what has arrived beside it
            # ("none yet" when nothing has, never 0), in its own field
            expected = con.execute(
                f"select kpi_id, observed_actual from {unit}.kpi_vs_target where as_of_day = ? "
                "and period_grain = 'month' and scope = 'all' and is_provisional and is_expected",
                [end],
            ).fetchall()
            for kpi, observed in expected:
                node = tree.nodes[kpi]
                with use(shop_copy.settings.locale):
                    field = message["fields"][kpi_name(node)]
                    said = _("none yet") if observed == 0 else formats.value(observed, node.unit)
                assert said in field, (team, kpi, field)
                provisional_seen += 1
    assert provisional_seen, "the last day's sign-offs are young: some KPI is judged expected"

    # the next morning without a new night: nothing new to say, nothing sent again
    received.clear()
    with dg.DagsterInstance.ephemeral() as instance:
        assert defs.get_job_def(schedule.job_name).execute_in_process(instance=instance).success
    assert received == []
