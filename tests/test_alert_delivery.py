"""Alert delivery (pipelines/alerts/delivery.py) against real local HTTP and SMTP servers."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from pipelines.alerts.delivery import (
    WECOM_BYTES,
    Channel,
    DeliveryResult,
    Mention,
    Message,
    deliver,
    deliver_all,
    parse_channel,
)

OWNERS = (
    Mention(
        "王芳", feishu="ou_7d8a6e6df7621556ce0d21922b676706", dingtalk_mobile="13800000001",
        wecom="wangfang", slack="U024BE7LH",
    ),
    Mention("Li Lei", dingtalk_user="manager7140", slack="U0G9QF9C6"),
)  # fmt: skip
BOARD = "https://kpi.shop.example/warehouse/board.html"
MESSAGE = Message(
    alert_id="a1",
    kind="short",
    severity="critical",
    team="operations",
    title="交易额 本月至今落后进度 8.2%（落后）",
    text=(
        "交易额本月至今低于进度 8.2%：流量 −1.1 个百分点，转化率 −6.9 个百分点；"
        "转化率下降最多的是付费搜索。"
    ),
    day="2026-06-15",
    kpi="gmv",
    fields={"达成率": "91.8%", "实际": "¥85.6万", "节奏目标": "¥93.3万"},
    link=BOARD,
    link_text="打开看板",
    mentions=OWNERS,
    note="运营部 · 2026-06-15",
    tone="critical",
)
SCHEMAS = Path(__file__).with_name("chat_schemas")
#: a number as Python prints a float it has given up on: 8.562e+05
SCIENTIFIC = re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][+-]?\d+\b")


def check_schema(kind: str, body: dict) -> None:
    """``body`` against the platform's documented message schema (tests/chat_schemas)."""
    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(body), key=lambda e: list(e.path)
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert not SCIENTIFIC.search(json.dumps(body, ensure_ascii=False))


#: what each fake service answers by default (path -> HTTP status, body)
ANSWERS = {
    "/slack": (200, "ok"),
    "/feishu": (200, json.dumps({"code": 0, "msg": "success", "data": {}})),
    "/feishu-old": (200, json.dumps({"StatusCode": 0, "StatusMessage": "success"})),
    "/dingtalk": (200, json.dumps({"errcode": 0, "errmsg": "ok"})),
    "/wecom": (200, json.dumps({"errcode": 0, "errmsg": "ok"})),
    "/hook": (200, "{}"),
    "/badsign": (200, json.dumps({"errcode": 310000, "errmsg": "sign not match"})),
    "/feishu-badsign": (200, json.dumps({"code": 19021, "msg": "sign match fail"})),
    "/gone": (404, "no_service"),
}


class FakeServices:
    def __init__(self, base: str) -> None:
        self.base = base
        self.received: list[dict[str, Any]] = []
        self.queued: dict[str, list[tuple[int, str]]] = {}  # path -> answers before the default

    def on(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["path"] == path]


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServices]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    lock = threading.Lock()
    fake: FakeServices

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            url = urllib.parse.urlsplit(self.path)
            with lock:
                fake.received.append(
                    {
                        "path": url.path,
                        "raw_query": url.query,
                        "query": dict(urllib.parse.parse_qsl(url.query)),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "raw": raw,
                        "json": json.loads(raw.decode("utf-8")),
                        "at": time.time(),
                    }
                )
                queue = fake.queued.get(url.path)
                code, text = queue.pop(0) if queue else ANSWERS.get(url.path, (200, "ok"))
            if url.path.startswith("/echo"):  # a careless service that repeats the request URL
                code, text = 400, f"bad request: {self.path}"
            body = text.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeServices(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def hook(monkeypatch: pytest.MonkeyPatch, kind: str, url: str, secret: str | None = None):
    """A channel of ``kind`` whose URL (and signing secret) live in the environment."""
    monkeypatch.setenv(f"TEST_{kind.upper()}_URL", url)
    conf = {"type": kind, "url_env": f"TEST_{kind.upper()}_URL"}
    if secret:
        monkeypatch.setenv(f"TEST_{kind.upper()}_SECRET", secret)
        conf["secret_env"] = f"TEST_{kind.upper()}_SECRET"
    return parse_channel(conf)


def no_sleep(_: float) -> None:
    pass


def free_port() -> int:
    """A port nothing listens on (bound, read, closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def assert_delivered(result: DeliveryResult, kind: str, target: str) -> None:
    assert (result.channel_type, result.status, result.attempts, result.error) == (
        kind,
        "delivered",
        1,
        None,
    )
    assert result.target == target
    assert result.delivered_at is not None
    sent = dt.datetime.fromisoformat(result.delivered_at)
    assert abs((dt.datetime.now(dt.UTC) - sent).total_seconds()) < 60


# --- the payload each service expects --------------------------------------------------------


def test_slack_gets_block_kit_in_the_status_colour(services, monkeypatch):
    port = services.base.rsplit(":", 1)[1]
    url = f"{services.base}/slack/T0AAA/B0BBB/XXXXSECRETXXXX"
    services.queued["/slack/T0AAA/B0BBB/XXXXSECRETXXXX"] = [(200, "ok")]
    result = deliver(MESSAGE, hook(monkeypatch, "slack", url))
    assert_delivered(result, "slack", f"http://127.0.0.1:{port}/…")
    (req,) = services.received
    assert req["path"] == "/slack/T0AAA/B0BBB/XXXXSECRETXXXX"
    assert req["headers"]["content-type"] == "application/json; charset=utf-8"
    body = req["json"]
    check_schema("slack", body)
    # the notification: the title, the owners @-mentioned
    assert body["text"] == f"🔴 {MESSAGE.title} <@U024BE7LH> <@U0G9QF9C6>"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#D1242F"  # critical: red
    header, explanation, fields, context, actions = attachment["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": f"🔴 {MESSAGE.title}"},
    }
    assert explanation["text"]["text"] == f"{MESSAGE.text}\n<@U024BE7LH> <@U0G9QF9C6>"
    assert [f["text"] for f in fields["fields"]] == [
        "*达成率*\n91.8%", "*实际*\n¥85.6万", "*节奏目标*\n¥93.3万"
    ]  # fmt: skip
    assert context["elements"][0]["text"] == MESSAGE.note
    assert actions["elements"] == [
        {"type": "button", "text": {"type": "plain_text", "text": "打开看板"}, "url": BOARD,
         "style": "primary"}
    ]  # fmt: skip
    # Chinese travels as UTF-8, not as \\u escapes
    assert "流量".encode() in req["raw"] and b"\\u" not in req["raw"]


def test_slack_text_is_escaped_and_long_lists_of_fields_are_split(services, monkeypatch):
    many = {f"KPI {i}": f"{i},000" for i in range(12)}
    msg = dataclasses.replace(
        MESSAGE, text="orders < 5 & refunds > 2", fields=many, link=None, mentions=(), note=None
    )
    result = deliver(msg, hook(monkeypatch, "slack", f"{services.base}/slack"))
    assert result.status == "delivered"
    body = services.received[0]["json"]
    check_schema("slack", body)
    blocks = body["attachments"][0]["blocks"]
    assert blocks[1]["text"]["text"] == "orders &lt; 5 &amp; refunds &gt; 2"
    # Slack takes 10 fields a section: 12 are two sections, in order, nothing lost
    assert [len(b["fields"]) for b in blocks[2:]] == [10, 2]
    shown = [f["text"] for b in blocks[2:] for f in b["fields"]]
    assert shown == [f"*KPI {i}*\n{i},000" for i in range(12)]
    assert all(b["type"] != "actions" for b in blocks)  # no board address: no button


def feishu_signature(secret: str, timestamp: str) -> str:
    # Feishu's scheme, recomputed here: the string to sign is the key, the message is empty
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_feishu_gets_an_interactive_card_signed_when_it_has_a_secret(services, monkeypatch):
    plain = deliver(MESSAGE, hook(monkeypatch, "feishu", f"{services.base}/feishu"))
    assert plain.status == "delivered"
    body = services.on("/feishu")[0]["json"]
    check_schema("feishu", body)
    assert set(body) == {"msg_type", "card"}
    card = body["card"]
    assert card["header"]["title"]["content"] == MESSAGE.title
    assert card["header"]["template"] == "red"
    explanation, fields, note, rule, button = card["body"]["elements"]
    # the owners @-mentioned the only way a custom bot can: by open_id
    assert explanation["content"] == (
        f"{MESSAGE.text}\n<at id=ou_7d8a6e6df7621556ce0d21922b676706></at>"
    )
    assert fields["content"] == "**达成率**：91.8%\n**实际**：¥85.6万\n**节奏目标**：¥93.3万"
    assert MESSAGE.note in note["content"]
    assert rule == {"tag": "hr"}
    assert button["text"]["content"] == "打开看板"
    assert button["behaviors"] == [{"type": "open_url", "default_url": BOARD}]

    secret = "fs-SECRET-9f8e7d"
    signed = deliver(MESSAGE, hook(monkeypatch, "feishu", f"{services.base}/feishu", secret))
    assert signed.status == "delivered"
    body = services.on("/feishu")[1]["json"]
    check_schema("feishu", body)
    assert set(body) == {"msg_type", "card", "timestamp", "sign"}
    assert body["card"] == card
    timestamp = body["timestamp"]
    assert isinstance(timestamp, str) and abs(int(timestamp) - time.time()) < 60  # seconds
    assert body["sign"] == feishu_signature(secret, timestamp)


def test_feishu_markdown_is_escaped(services, monkeypatch):
    msg = dataclasses.replace(MESSAGE, text="a <b> & *c* under_score", mentions=())
    assert deliver(msg, hook(monkeypatch, "feishu", f"{services.base}/feishu")).status == (
        "delivered"
    )
    body = services.received[0]["json"]
    check_schema("feishu", body)
    text = body["card"]["body"]["elements"][0]["content"]
    assert text == "a &lt;b&gt; &amp; \\*c\\* under\\_score"


def test_feishu_old_style_answer_counts_as_success(services, monkeypatch):
    result = deliver(MESSAGE, hook(monkeypatch, "feishu", f"{services.base}/feishu-old"))
    assert result.status == "delivered"


def test_dingtalk_gets_an_action_card_signed_in_the_url(services, monkeypatch):
    secret = "SEC0123456789abcdef"
    url = f"{services.base}/dingtalk?access_token=AT0123456789"
    result = deliver(MESSAGE, hook(monkeypatch, "dingtalk", url, secret))
    assert result.status == "delivered", result.error
    assert "AT0123456789" not in result.target
    (req,) = services.received
    body = req["json"]
    check_schema("dingtalk", body)
    card = body["actionCard"]
    assert body["msgtype"] == "actionCard"
    assert (card["title"], card["singleTitle"], card["singleURL"]) == (
        MESSAGE.title, "打开看板", BOARD
    )  # fmt: skip
    assert card["text"].startswith(f"#### 🔴 {MESSAGE.title}\n\n{MESSAGE.text}\n")
    assert "- **实际**：¥85.6万" in card["text"]
    # @-mentioned: written in the text and listed in `at`
    assert body["at"] == {
        "atMobiles": ["13800000001"], "atUserIds": ["manager7140"], "isAtAll": False
    }  # fmt: skip
    assert card["text"].endswith("@13800000001 @manager7140")
    q = req["query"]
    assert set(q) == {"access_token", "timestamp", "sign"}
    assert q["access_token"] == "AT0123456789"
    assert abs(int(q["timestamp"]) / 1000 - time.time()) < 60  # milliseconds
    # DingTalk's scheme, recomputed here: key = secret, message = "{timestamp}\n{secret}"
    digest = hmac.new(secret.encode(), f"{q['timestamp']}\n{secret}".encode(), hashlib.sha256)
    expected = base64.b64encode(digest.digest()).decode()
    assert q["sign"] == expected
    # and it is URL-encoded in the query (base64 has + / =)
    assert f"sign={urllib.parse.quote_plus(expected)}" in req["raw_query"]


def test_dingtalk_without_a_board_address_gets_markdown(services, monkeypatch):
    msg = dataclasses.replace(MESSAGE, link=None)
    deliver(msg, hook(monkeypatch, "dingtalk", f"{services.base}/dingtalk?access_token=T"))
    body = services.received[0]["json"]
    check_schema("dingtalk", body)
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == MESSAGE.title
    assert body["at"]["atMobiles"] == ["13800000001"]


def test_wecom_markdown(services, monkeypatch):
    url = f"{services.base}/wecom?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    result = deliver(MESSAGE, hook(monkeypatch, "wecom", url))
    assert result.status == "delivered"
    (req,) = services.received
    assert req["query"] == {"key": "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"}
    body = req["json"]
    check_schema("wecom", body)
    assert body["markdown"]["content"] == (
        f'**<font color="warning">{MESSAGE.title}</font>**\n{MESSAGE.text}\n'
        '> 达成率：<font color="comment">91.8%</font>\n'
        '> 实际：<font color="comment">¥85.6万</font>\n'
        '> 节奏目标：<font color="comment">¥93.3万</font>\n'
        f'<font color="comment">{MESSAGE.note}</font>\n'
        f"[打开看板]({BOARD})\n<@wangfang>"
    )


def test_wecom_cuts_a_long_message_to_its_bytes_and_keeps_the_link_and_mentions(
    services, monkeypatch
):
    msg = dataclasses.replace(MESSAGE, text="转化率下降。" * 2000)  # 36 kB of UTF-8
    deliver(msg, hook(monkeypatch, "wecom", f"{services.base}/wecom"))
    content = services.received[0]["json"]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_BYTES
    assert content.endswith(f"[打开看板]({BOARD})\n<@wangfang>")
    assert "…" in content


def test_a_message_of_real_numbers_never_says_them_in_scientific_notation(services, monkeypatch):
    """Amounts a float would print as 8.562e+05 are written by the shop's formatter."""
    from kpi_tree.formats import Formats

    for locale in ("zh_CN", "en_US"):
        formats = Formats("CNY", locale)
        values = [856234.0, 1.2e9, 3.4e-05, 0.000012]
        assert any(SCIENTIFIC.search(repr(v)) for v in values)  # what Python would print
        msg = dataclasses.replace(
            MESSAGE,
            fields={f"v{i}": formats.value(v, "money") for i, v in enumerate(values)}
            | {"rate": formats.value(3.4e-05, "ratio"), "count": formats.value(1.2e9, "count")},
        )
        for kind in ("slack", "feishu", "dingtalk", "wecom"):
            deliver(msg, hook(monkeypatch, kind, f"{services.base}/{kind}?access_token=T"))
            check_schema(kind, services.received[-1]["json"])


def test_generic_webhook_posts_the_message_with_headers(services, monkeypatch):
    monkeypatch.setenv("TEST_HOOK_AUTH", "Bearer tok-ABCDEF123")
    ch = parse_channel(
        {
            "type": "webhook",
            "url": f"{services.base}/hook",
            "headers": {"X-Team": "operations"},
            "headers_env": {"Authorization": "TEST_HOOK_AUTH"},
        }
    )
    result = deliver(MESSAGE, ch)
    assert_delivered(result, "webhook", f"{services.base}/…")
    (req,) = services.received
    assert req["json"] == {
        "alert_id": "a1",
        "kind": "short",
        "severity": "critical",
        "team": "operations",
        "title": MESSAGE.title,
        "text": MESSAGE.text,
        "day": "2026-06-15",
        "kpi": "gmv",
        "fields": MESSAGE.fields,
        "link": BOARD,
        "link_text": "打开看板",
        "mentions": [dataclasses.asdict(m) for m in OWNERS],
        "note": MESSAGE.note,
        "tone": "critical",
        "source": "kpi-tree-warehouse",
    }
    assert req["headers"]["x-team"] == "operations"
    assert req["headers"]["authorization"] == "Bearer tok-ABCDEF123"


def test_deliver_all_keeps_going_after_a_failure(services, monkeypatch, tmp_path):
    channels = [
        parse_channel({"type": "slack", "url_env": "TEST_NOT_SET_1"}),
        hook(monkeypatch, "wecom", f"{services.base}/wecom"),
        parse_channel({"type": "file", "path": str(tmp_path / "out.jsonl")}),
    ]
    results = deliver_all(MESSAGE, channels, retries=1, sleep=no_sleep)
    assert [(r.channel_type, r.status) for r in results] == [
        ("slack", "failed"),
        ("wecom", "delivered"),
        ("file", "delivered"),
    ]


# --- retries, failures, redaction ------------------------------------------------------------


def test_two_server_errors_then_delivered_with_exponential_backoff(services, monkeypatch):
    services.queued["/hook"] = [(500, "busy"), (503, "busy")]
    delays: list[float] = []
    result = deliver(
        MESSAGE,
        hook(monkeypatch, "webhook", f"{services.base}/hook"),
        backoff=0.5,
        sleep=delays.append,
    )
    assert (result.status, result.attempts, result.error) == ("delivered", 3, None)
    assert delays == [0.5, 1.0]
    assert len(services.on("/hook")) == 3


def test_rate_limited_then_delivered(services, monkeypatch):
    services.queued["/slack"] = [(429, "rate_limited")]
    delays: list[float] = []
    result = deliver(
        MESSAGE,
        hook(monkeypatch, "slack", f"{services.base}/slack"),
        retries=4,
        backoff=0.25,
        sleep=delays.append,
    )
    assert (result.status, result.attempts, delays) == ("delivered", 2, [0.25])


def test_server_errors_every_time_fail_after_all_retries(services, monkeypatch):
    services.queued["/hook"] = [(500, "down")] * 4
    delays: list[float] = []
    result = deliver(
        MESSAGE,
        hook(monkeypatch, "webhook", f"{services.base}/hook"),
        retries=4,
        backoff=0.1,
        sleep=delays.append,
    )
    assert (result.status, result.attempts, result.delivered_at) == ("failed", 4, None)
    assert delays == pytest.approx([0.1, 0.2, 0.4])
    assert "HTTP 500" in result.error


def test_not_ok_answer_is_retried_then_failed_with_the_service_message(services, monkeypatch):
    delays: list[float] = []
    result = deliver(
        MESSAGE,
        hook(monkeypatch, "dingtalk", f"{services.base}/badsign?access_token=T0K3N42", "SEC"),
        retries=3,
        backoff=0.01,
        sleep=delays.append,
    )
    assert (result.status, result.attempts) == ("failed", 3)
    assert delays == [0.01, 0.02]
    assert "310000" in result.error and "sign not match" in result.error
    assert len(services.on("/badsign")) == 3
    feishu = deliver(
        MESSAGE,
        hook(monkeypatch, "feishu", f"{services.base}/feishu-badsign", "FSSEC"),
        retries=2,
        sleep=no_sleep,
    )
    assert (feishu.status, feishu.attempts) == ("failed", 2)
    assert "19021" in feishu.error and "sign match fail" in feishu.error


def test_a_client_error_is_not_retried(services, monkeypatch):
    delays: list[float] = []
    result = deliver(
        MESSAGE, hook(monkeypatch, "slack", f"{services.base}/gone"), sleep=delays.append
    )
    assert (result.status, result.attempts, delays) == ("failed", 1, [])
    assert result.error == "HTTP 404 Not Found: no_service"


def test_refused_connection_never_raises_and_leaks_no_secret(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    secrets = ("hook-TOKEN-PATH-77", "S3CR3T-query-value", "SIGNING-secret-31337")
    url = f"http://127.0.0.1:{port}/open-apis/bot/v2/hook/{secrets[0]}?k={secrets[1]}"
    delays: list[float] = []
    results = [
        deliver(
            MESSAGE,
            hook(monkeypatch, kind, url, secrets[2]),
            retries=3,
            backoff=0.01,
            timeout=2,
            sleep=delays.append,
        )
        for kind in ("feishu", "dingtalk")
    ]
    for result in results:
        assert (result.status, result.attempts, result.delivered_at) == ("failed", 3, None)
        assert result.target == f"http://127.0.0.1:{port}/…"
        assert "cannot connect" in result.error and "refused" in result.error.lower()
    assert delays == [0.01, 0.02] * 2
    assert "not delivered to feishu" in caplog.text  # the failure is logged ...
    everything = repr(results) + caplog.text
    for secret in secrets:  # ... without any secret
        assert secret not in everything
    assert "/open-apis" not in everything


def test_a_service_echoing_the_url_in_its_error_leaks_no_token(services, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"{services.base}/echo/robot/send?access_token=ACCESS-tok-98765"
    result = deliver(MESSAGE, hook(monkeypatch, "dingtalk", url, "SIGN-sec-4242"), sleep=no_sleep)
    (req,) = services.received  # HTTP 400: not retried
    sign = req["query"]["sign"]
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.error.startswith("HTTP 400 Bad Request: bad request: ***")
    everything = repr(result) + caplog.text
    for secret in ("ACCESS-tok-98765", "SIGN-sec-4242", sign, urllib.parse.quote_plus(sign)):
        assert secret not in everything
    assert "/robot/send" not in everything


def test_a_service_that_never_answers_times_out(monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (kernel backlog) but never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/wecom?key=abcdef123456"
        start = time.monotonic()
        result = deliver(
            MESSAGE, hook(monkeypatch, "wecom", url), retries=2, timeout=0.3, sleep=no_sleep
        )
        elapsed = time.monotonic() - start
    finally:
        listener.close()
    assert (result.status, result.attempts) == ("failed", 2)
    assert "timed out" in result.error
    assert elapsed < 5
    assert "abcdef123456" not in repr(result)


def test_missing_environment_variable_is_a_failure_naming_it(monkeypatch, caplog):
    monkeypatch.delenv("TEST_NOT_SET_ANYWHERE", raising=False)
    missing = deliver(MESSAGE, parse_channel({"type": "slack", "url_env": "TEST_NOT_SET_ANYWHERE"}))
    assert (missing.status, missing.attempts) == ("failed", 0)
    assert missing.error == "environment variable TEST_NOT_SET_ANYWHERE (webhook URL) is not set"
    assert missing.target == "$TEST_NOT_SET_ANYWHERE"

    # the URL is there but the signing secret is not: the variable is named, the URL is not
    monkeypatch.setenv("TEST_FS_URL", "https://open.feishu.cn/open-apis/bot/v2/hook/uuid-XYZ-123")
    monkeypatch.delenv("TEST_FS_SECRET", raising=False)
    ch = parse_channel({"type": "feishu", "url_env": "TEST_FS_URL", "secret_env": "TEST_FS_SECRET"})
    result = deliver(MESSAGE, ch, sleep=no_sleep)
    assert (result.status, result.attempts) == ("failed", 0)
    assert "TEST_FS_SECRET" in result.error
    assert result.target == "https://open.feishu.cn/…"
    assert "uuid-XYZ-123" not in repr(result) + caplog.text

    monkeypatch.setenv("TEST_BAD_URL", "ftp://files.example/secret-file-name")
    bad = deliver(MESSAGE, parse_channel({"type": "wecom", "url_env": "TEST_BAD_URL"}))
    assert bad.status == "failed" and "TEST_BAD_URL" in bad.error
    assert "secret-file-name" not in repr(bad)


def test_deliver_never_raises_even_on_a_hand_made_channel():
    result = deliver(MESSAGE, Channel(type="pager"), sleep=no_sleep)
    assert (result.status, result.channel_type) == ("failed", "pager")
    assert "unknown channel type" in result.error


# --- email -----------------------------------------------------------------------------------


class SMTPStore:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"kpi", b"pa55-W0RD-secret")
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[SMTPStore, int]]:
    store = SMTPStore()
    port = free_port()
    controller = Controller(
        store,
        hostname="127.0.0.1",
        port=port,
        authenticator=store.authenticate,
        auth_require_tls=False,  # a local test server without TLS
    )
    controller.start()
    try:
        yield store, port
    finally:
        controller.stop()


def test_email_reaches_a_local_smtp_server_in_utf8(smtp_server):
    store, port = smtp_server
    ch = parse_channel(
        {
            "type": "email",
            "host": "127.0.0.1",
            "port": port,
            "from": "kpi@shop.example",
            "to": ["ops@shop.example", "boss@shop.example"],
        }
    )
    result = deliver(MESSAGE, ch, timeout=5)
    assert_delivered(
        result, "email", f"smtp://127.0.0.1:{port} to ops@shop.example, boss@shop.example"
    )
    (envelope,) = store.envelopes
    assert envelope.mail_from == "kpi@shop.example"
    assert envelope.rcpt_tos == ["ops@shop.example", "boss@shop.example"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["Subject"] == MESSAGE.title  # Chinese survives the RFC 2047 encoding
    assert mail["From"] == "kpi@shop.example"
    assert mail["To"] == "ops@shop.example, boss@shop.example"
    assert mail["X-KPI-Alert-Id"] == "a1"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    assert mail["Content-Transfer-Encoding"] == "quoted-printable"  # 7-bit safe on the wire
    assert mail.get_content().replace("\r\n", "\n") == (
        f"{MESSAGE.text}\n\n达成率: 91.8%\n实际: ¥85.6万\n节奏目标: ¥93.3万\n\n"
        f"打开看板: {BOARD}\n\n王芳, Li Lei\n\n"
        "severity: critical\nteam: operations\nday: 2026-06-15\nkpi: gmv\n"
    )
    assert not store.logins


def test_email_logs_in_with_the_password_from_the_environment(smtp_server, monkeypatch, caplog):
    store, port = smtp_server
    conf = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from": "kpi@shop.example",
        "to": "ops@shop.example",
        "user": "kpi",
        "password_env": "TEST_SMTP_PASSWORD",
    }
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "pa55-W0RD-secret")
    assert deliver(MESSAGE, parse_channel(conf), timeout=5).status == "delivered"
    assert store.logins == [(b"kpi", b"pa55-W0RD-secret")]
    assert len(store.envelopes) == 1

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-PASSWORD-value")
    delays: list[float] = []
    refused = deliver(MESSAGE, parse_channel(conf), timeout=5, sleep=delays.append)
    assert (refused.status, refused.attempts, delays) == ("failed", 1, [])  # not retried
    assert "login refused" in refused.error
    assert "wrong-PASSWORD-value" not in repr(refused) + caplog.text
    assert len(store.envelopes) == 1


def test_email_to_a_closed_port_fails_after_the_retries():
    ch = parse_channel(
        {
            "type": "email",
            "host": "127.0.0.1",
            "port": free_port(),
            "from": "a@x.cn",
            "to": "b@x.cn",
        }
    )
    result = deliver(MESSAGE, ch, retries=2, timeout=2, sleep=no_sleep)
    assert (result.status, result.attempts) == ("failed", 2)
    assert "SMTP" in result.error


# --- file sink and configuration -------------------------------------------------------------


def test_file_sink_appends_json_lines(tmp_path):
    path = tmp_path / "new" / "folder" / "outbox.jsonl"
    ch = parse_channel({"type": "file", "path": str(path)})
    other = dataclasses.replace(MESSAGE, alert_id="a2", kpi=None, fields={})
    assert_delivered(deliver(MESSAGE, ch), "file", str(path))
    assert_delivered(deliver(other, ch), "file", str(path))
    raw = path.read_text(encoding="utf-8")
    assert "付费搜索" in raw  # ensure_ascii=False
    lines = [json.loads(line) for line in raw.splitlines()]
    as_json = [json.loads(json.dumps(dataclasses.asdict(m))) for m in (MESSAGE, other)]
    assert lines == as_json


def test_file_sink_that_cannot_be_written_fails_without_raising(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    ch = parse_channel({"type": "file", "path": str(blocker / "outbox.jsonl")})
    result = deliver(MESSAGE, ch, retries=2, sleep=no_sleep)
    assert (result.status, result.attempts) == ("failed", 2)


def test_parse_channel_builds_channels():
    assert parse_channel({"type": "dingtalk", "url_env": "D_URL", "secret_env": "D_SEC"}) == (
        Channel(type="dingtalk", url_env="D_URL", secret_env="D_SEC")
    )
    mail = parse_channel(
        {"type": "email", "host": "smtp.example.com", "starttls": True, "user": "kpi",
         "password_env": "SMTP_PASSWORD", "from": "kpi@shop.example", "to": "boss@shop.example"}
    )  # fmt: skip
    assert (mail.port, mail.sender, mail.to, mail.starttls) == (
        587,
        "kpi@shop.example",
        ("boss@shop.example",),
        True,
    )
    hash(mail)  # frozen and hashable


def test_a_file_channel_without_a_path_appends_to_the_outbox_under_base(tmp_path):
    assert parse_channel({"type": "file"}, base=tmp_path).path == str(
        tmp_path / "alerts" / "outbox.jsonl"
    )
    assert parse_channel({"type": "file", "path": "x.jsonl"}, base=tmp_path).path == str(
        tmp_path / "x.jsonl"
    )
    assert parse_channel({"type": "file", "path": "/abs/x.jsonl"}, base=tmp_path).path == (
        "/abs/x.jsonl"
    )


@pytest.mark.parametrize(
    ("conf", "place"),
    [
        ({"type": "pager"}, "type"),
        ({"url_env": "X"}, "type"),
        ("slack", ""),
        ({"type": "webhook", "url": "https://hooks.example/x?token=abc123"}, "url"),
        ({"type": "webhook", "url": "https://u:pw@hooks.example/x"}, "url"),
        ({"type": "webhook", "url": "file:///etc/passwd"}, "url"),
        ({"type": "webhook", "url": "https://h.example/x", "url_env": "X"}, "url"),
        ({"type": "webhook"}, "url_env"),
        ({"type": "slack", "url": "https://hooks.slack.com/services/T/B/X"}, "url"),
        ({"type": "slack"}, "url_env"),
        ({"type": "slack", "url_env": "https://hooks.slack.com/x"}, "url_env"),
        ({"type": "slack", "url_env": 42}, "url_env"),
        ({"type": "feishu", "url_env": "F", "secret": "abc"}, "secret"),
        ({"type": "dingtalk", "url_env": "D", "token": "abc123"}, "token"),
        ({"type": "wecom", "url_env": "W", "webhook": "https://hooks.slack.com/x"}, "webhook"),
        ({"type": "wecom", "url_env": "W", "secret_env": "S"}, "secret_env"),
        ({"type": "file", "path": ""}, "path"),
        ({"type": "file", "path": "a", "mode": "w"}, "mode"),
        ({"type": "email", "host": "h", "from": "a@b.cn"}, "to"),
        ({"type": "email", "host": "h", "from": "a@b.cn", "to": []}, "to"),
        ({"type": "email", "host": "h", "from": "a@b.cn", "to": ["c@d.cn", "boss"]}, "to[1]"),
        ({"type": "email", "host": "h", "from": "a@b.cn", "to": "c@d.cn", "port": 0}, "port"),
        ({"type": "email", "host": "h", "from": "a@b.cn", "to": "c@d.cn", "port": "25"}, "port"),
        ({"type": "email", "host": "h", "to": "c@d.cn"}, "from"),
        ({"type": "email", "host": "h", "from": "a@b.cn", "to": "c@d.cn", "starttls": "yes"},
         "starttls"),
        ({"type": "email", "host": "h", "from": "a@b.cn", "to": "c@d.cn", "user": "u"},
         "password_env"),
        ({"type": "email", "host": "h", "from": "a@b.cn", "to": "c@d.cn", "password_env": "P"},
         "user"),
        ({"type": "email", "from": "a@b.cn", "to": "c@d.cn", "password": "p"}, "password"),
        ({"type": "webhook", "url_env": "U", "headers": {"X-A": "1\r\nX-B: 2"}}, "headers.X-A"),
        ({"type": "webhook", "url_env": "U", "headers": {"X A": "1"}}, "headers.X A"),
        ({"type": "webhook", "url_env": "U", "headers_env": {"Authorization": "Bearer x"}},
         "headers_env.Authorization"),
    ],
)  # fmt: skip
def test_parse_channel_refuses_each_mistake_at_its_key(conf, place):
    with pytest.raises(ValueError) as info:
        parse_channel(conf)
    text = str(info.value)
    places = {line.split(": ")[1] for line in text.splitlines() if line.count(": ") >= 2}
    if place:
        assert place in places, text
    else:
        assert text.startswith("alert channel: ") and places == set(), text  # the whole of it
    for secret in ("abc123", "hooks.slack.com", "pw@", "T/B/X", "Bearer"):  # values not echoed
        assert secret not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
