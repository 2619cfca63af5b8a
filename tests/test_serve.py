"""`kpi serve`: the board and the quality reports over http, under their paths in the data
directory, and nothing else of it; the links the alerts and Dagster give lead there."""

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import great_expectations as gx
import pandas as pd
import pytest

import expectations.runner as runner
from expectations.suites import Gate
from pipelines.cli.serve import make_server
from pipelines.i18n import _, use
from pipelines.links import board_url, report_href, report_link, report_url
from pipelines.settings import load_settings

DAY = dt.date(2025, 3, 4)


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A data directory with a board and one quality report, served on a free port."""
    data = tmp_path / "data"
    config = tmp_path / "kpi.yaml"
    config.write_text("serve:\n  base_url: https://kpi.shop.example/reports\n")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    monkeypatch.setenv("KPI_DATA_DIR", str(data))
    settings = load_settings(data)
    settings.warehouse_dir.mkdir(parents=True)
    (settings.warehouse_dir / "board.html").write_text("<title>board</title>", encoding="utf-8")
    (settings.warehouse_dir / "build.duckdb").write_bytes(b"secret")
    frame = pd.DataFrame({"period_start": [DAY], "orders": [-1]})
    gate = Gate(
        unit="toy",
        frames={"mart": frame},
        expectations={
            "mart": [gx.expectations.ExpectColumnValuesToBeBetween(column="orders", min_value=0)]
        },
    )
    verdict = runner.run_gate(gate, settings.warehouse_dir, "run-1", DAY, DAY)
    server = make_server(settings, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield settings, verdict.report, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def test_the_board_and_the_reports_are_served_and_nothing_else(served):
    settings, report, base = served
    status, body = _get(base)  # / leads to the board
    assert status == 200 and b"<title>board</title>" in body
    status, body = _get(base + report)  # the report, at its path in the data directory
    assert status == 200 and b"Great Expectations" in body
    # its stylesheet (vendored, relative) is served too
    css = next(settings.warehouse_dir.rglob("static/vendor/bootstrap-4.3.1/bootstrap.min.css"))
    status, _ = _get(base + css.relative_to(settings.data_dir).as_posix())
    assert status == 200
    for hidden in (
        "warehouse/build.duckdb",
        "warehouse/quality/results/toy.json",
        "warehouse/",
        "warehouse/quality/gx/gx/uncommitted/data_docs/../../../../build.duckdb",
        "%2e%2e/etc/passwd",
    ):
        assert _get(base + hidden)[0] == 404, hidden


def test_the_links_point_through_the_configured_address(served):
    settings, report, _base = served
    # the report as the verdict and the publication log keep it: relative to the data dir
    assert report.startswith("warehouse/quality/") and (settings.data_dir / report).is_file()
    assert report_url(settings, report) == "https://kpi.shop.example/reports/" + report
    assert report_link(settings, report) == report_url(settings, report)
    assert board_url(settings) == "https://kpi.shop.example/reports/warehouse/board.html"
    # from the board (beside it in warehouse/): a relative link that works offline and served
    href = report_href(settings, report, settings.warehouse_dir)
    assert not href.startswith(("/", "file:")) and (settings.warehouse_dir / href).is_file()


def test_without_an_address_the_links_are_the_files(tmp_path, monkeypatch):
    monkeypatch.delenv("KPI_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(tmp_path / "data")
    report = "warehouse/quality/gx/page.html"
    assert board_url(settings) is None  # a chat button needs an address a phone opens
    assert report_url(settings, report) == (settings.data_dir / report).resolve().as_uri()
    assert report_link(settings, report) == report  # for a reader elsewhere: relative


def test_the_request_log_speaks_the_shops_language(served):
    """`kpi serve` in a Chinese shop (its own process, as a user starts it) logs each request
    in Chinese: what was asked for and what became of it, the report sent, a warehouse file
    not served (each request is answered in a thread of its own, which must still speak the
    shop's language)."""
    settings, report, _base = served
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "KPI_DATA_DIR": str(settings.data_dir),
        "KPI_LOCALE": "zh_CN",
        "COLUMNS": "80",  # a log line is one line, however long
        "PYTHONUNBUFFERED": "1",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _body = _get(base + report)
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.2)
        assert status == 200
        assert _get(base + "warehouse/build.duckdb")[0] == 404
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl+C, as the server says to stop it
        out = server.communicate(timeout=30)[0]
    sent = [line for line in out.splitlines() if report in line]
    refused = [line for line in out.splitlines() if "build.duckdb" in line]
    assert sent and refused, out
    with use("zh_CN"):
        assert all(f"200 {_('sent')}" in line for line in sent), out
        assert f"404 {_('not served')}" in refused[0], refused
        assert _("sent") != "sent" and _("not served") != "not served"
    assert "not served" not in out and "File not found" not in out, out
