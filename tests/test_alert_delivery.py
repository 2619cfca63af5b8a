"""Alert delivery (pipelines/alerts/delivery.py) against real local servers: HTTP and SMTP."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from pipelines.alerts.delivery import (
    Message,
    deliver,
    dingtalk_sign,
    feishu_sign,
    parse_channel,
)

MESSAGE = Message(
    alert_id="a1",
    kind="short",
    severity="critical",
    team="operations",
    title="GMV 交易额 month-to-date 8.2 % below pace (short)",
    text="GMV month-to-date is 8.2 % below pace: 流量转化率 fell most in paid_search.",
    day="2026-06-15",
    kpi="gmv",
    fields={"attainment": "91.8%"},
)
ANSWERS = {
    "/slack": (200, "ok"),
    "/feishu": (200, json.dumps({"code": 0, "msg": "success"})),
    "/dingtalk": (200, json.dumps({"errcode": 0, "errmsg": "ok"})),
    "/wecom": (200, json.dumps({"errcode": 0, "errmsg": "ok"})),
    "/hook": (200, "{}"),
    "/badsign": (200, json.dumps({"errcode": 310000, "errmsg": "sign not match"})),
}


@pytest.fixture
def server():
    received: list[dict] = []
    flaky = {"left": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            url = urllib.parse.urlsplit(self.path)
            received.append(
                {
                    "path": url.path,
                    "query": dict(urllib.parse.parse_qsl(url.query)),
                    "headers": dict(self.headers),
                    "json": json.loads(body.decode("utf-8")),
                }
            )
            if url.path == "/flaky" and flaky["left"] > 0:
                flaky["left"] -= 1
                code, text = 500, "busy"
            else:
                code, text = ANSWERS.get(url.path, (200, "ok"))
            self.send_response(code)
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, received, flaky
    httpd.shutdown()


def channel(monkeypatch, kind, url, secret=None):
    monkeypatch.setenv("HOOK_URL", url)
    conf = {"type": kind, "url_env": "HOOK_URL"}
    if secret:
        monkeypatch.setenv("HOOK_SECRET", secret)
        conf["secret_env"] = "HOOK_SECRET"
    return parse_channel(conf)


def test_each_service_gets_the_payload_it_expects(server, monkeypatch):
    base, received, _ = server
    results = {
        kind: deliver(MESSAGE, channel(monkeypatch, kind, f"{base}/{kind}?token=T0KEN"))
        for kind in ("slack", "wecom")
    }
    results["webhook"] = deliver(MESSAGE, channel(monkeypatch, "webhook", f"{base}/hook"))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, "delivered")
    by_path = {r["path"]: r for r in received}
    slack = by_path["/slack"]["json"]
    assert slack["text"].startswith("[critical] GMV 交易额")
    assert slack["blocks"][0]["type"] == "header"
    assert slack["blocks"][1]["text"]["text"] == MESSAGE.text
    wecom = by_path["/wecom"]["json"]
    assert wecom["msgtype"] == "markdown" and MESSAGE.text in wecom["markdown"]["content"]
    hook = by_path["/hook"]["json"]
    assert hook["alert_id"] == "a1" and hook["fields"] == {"attainment": "91.8%"}
    assert hook["source"] == "kpi-tree-warehouse"
    assert by_path["/slack"]["query"] == {"token": "T0KEN"}
    assert "127.0.0.1" in results["slack"].target and "T0KEN" not in results["slack"].target


def test_feishu_and_dingtalk_are_signed(server, monkeypatch):
    base, received, _ = server
    feishu = deliver(MESSAGE, channel(monkeypatch, "feishu", f"{base}/feishu", "fs-secret"))
    ding = deliver(
        MESSAGE, channel(monkeypatch, "dingtalk", f"{base}/dingtalk?access_token=AT", "SEC123")
    )
    assert feishu.status == ding.status == "delivered"
    fs = next(r for r in received if r["path"] == "/feishu")["json"]
    assert fs["msg_type"] == "text" and MESSAGE.text in fs["content"]["text"]
    assert fs["sign"] == feishu_sign("fs-secret", fs["timestamp"])
    dt_req = next(r for r in received if r["path"] == "/dingtalk")
    assert dt_req["json"]["msgtype"] == "markdown"
    assert dt_req["json"]["markdown"]["title"] == MESSAGE.title
    q = dt_req["query"]
    assert q["access_token"] == "AT"
    assert q["sign"] == dingtalk_sign("SEC123", q["timestamp"])


def test_retries_with_backoff_then_delivers_or_gives_up(server, monkeypatch):
    base, received, flaky = server
    flaky["left"] = 2
    delays: list[float] = []
    result = deliver(
        MESSAGE, channel(monkeypatch, "webhook", f"{base}/flaky"), backoff=0.5, sleep=delays.append
    )
    assert (result.status, result.attempts, delays) == ("delivered", 3, [0.5, 1.0])
    refused = deliver(
        MESSAGE,
        channel(monkeypatch, "dingtalk", f"{base}/badsign", "SEC"),
        retries=2,
        sleep=lambda _: None,
    )
    assert (refused.status, refused.attempts) == ("failed", 2)
    assert "sign not match" in refused.error


def free_port() -> int:
    """A port nothing listens on (bound, read, closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_a_refused_connection_is_recorded_never_raised_and_leaks_no_secret(monkeypatch, caplog):
    port = free_port()
    caplog.set_level(logging.DEBUG)
    ch = channel(
        monkeypatch, "feishu", f"http://127.0.0.1:{port}/hook/SECRET-PATH?k=S3CR3T", "SIGN"
    )
    result = deliver(MESSAGE, ch, retries=3, sleep=lambda _: None)
    assert (result.status, result.attempts) == ("failed", 3)
    assert result.error and result.delivered_at is None
    everything = repr(result) + caplog.text
    for secret in ("SECRET-PATH", "S3CR3T", "SIGN"):
        assert secret not in everything
    missing = deliver(MESSAGE, parse_channel({"type": "slack", "url_env": "NOT_SET_ANYWHERE"}))
    assert missing.status == "failed" and "NOT_SET_ANYWHERE" in missing.error


def test_email_reaches_a_local_smtp_server():
    got = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            got.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        ch = parse_channel(
            {
                "type": "email",
                "host": "127.0.0.1",
                "port": port,
                "from": "kpi@shop.example",
                "to": ["ops@shop.example"],
            }
        )
        result = deliver(MESSAGE, ch)
    finally:
        controller.stop()
    assert result.status == "delivered", result.error
    (envelope,) = got
    assert envelope.mail_from == "kpi@shop.example" and envelope.rcpt_tos == ["ops@shop.example"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["Subject"] == f"[critical] {MESSAGE.title}"
    assert MESSAGE.text in mail.get_content() and "attainment: 91.8%" in mail.get_content()


def test_file_sink_and_config_errors(tmp_path):
    ch = parse_channel({"type": "file", "path": str(tmp_path / "out" / "alerts.jsonl")})
    assert deliver(MESSAGE, ch).status == "delivered"
    assert deliver(MESSAGE, ch).status == "delivered"
    lines = (tmp_path / "out" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["text"] for line in lines] == [MESSAGE.text] * 2
    with pytest.raises(ValueError, match="channel type must be one of"):
        parse_channel({"type": "pager"})
    with pytest.raises(ValueError, match="url_env"):
        parse_channel({"type": "webhook", "url": "https://hooks.example/x?token=abc"})
    with pytest.raises(ValueError, match="unknown key"):
        parse_channel({"type": "slack", "url_env": "X", "url": "https://x"})
