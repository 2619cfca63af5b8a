"""Deliver one alert message to one channel: never raises, retries with backoff, leaks nothing.

Channel types (kpi.yaml ``alerts.channels.<team>``, a list of mappings):

- ``file`` (the default): ``path``; one JSON line per message.
- ``webhook``: generic JSON POST of the message; ``url_env`` (or a plain ``url`` without a
  query string: tokens live in query strings, and those belong in the environment).
- ``slack``: Slack incoming webhook, ``url_env``; {"text", "blocks"}; success = HTTP 200.
- ``feishu``: Feishu / Lark custom bot, ``url_env``, optional ``secret_env`` (signing:
  timestamp + base64(HMAC-SHA256(key="{timestamp}\\n{secret}", msg=""))); success = code 0.
- ``dingtalk``: DingTalk robot, ``url_env``, optional ``secret_env`` (signing: &timestamp=ms
  &sign=base64(HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}"))); success = errcode 0.
- ``wecom``: WeCom group robot, ``url_env``; markdown; success = errcode 0.
- ``email``: ``host``, ``port``, ``from``, ``to`` (list), ``starttls``, ``user``,
  ``password_env``.

Secrets (URLs, signing secrets, passwords) come from the environment; results and logs show a
redacted target (scheme://host:port/…) and errors with every secret replaced by ``***``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TYPES = ("file", "webhook", "slack", "feishu", "dingtalk", "wecom", "email")
HTTP_TYPES = ("webhook", "slack", "feishu", "dingtalk", "wecom")


@dataclass(frozen=True)
class Message:
    alert_id: str
    kind: str  # short | at_risk | recovered | break | held_back
    severity: str  # info | warning | critical
    team: str
    title: str
    text: str
    day: str
    kpi: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Channel:
    type: str
    options: Mapping[str, Any]


@dataclass(frozen=True)
class DeliveryResult:
    channel_type: str
    target: str  # redacted
    status: str  # delivered | failed
    attempts: int
    error: str | None = None
    delivered_at: str | None = None


class _Retryable(Exception):
    pass


class _Fatal(Exception):
    pass


def parse_channel(mapping: Mapping[str, Any]) -> Channel:
    if not isinstance(mapping, Mapping):
        raise ValueError("a channel must be a mapping with a 'type'")
    kind = mapping.get("type")
    if kind not in TYPES:
        raise ValueError(f"channel type must be one of {TYPES}, got {kind!r}")
    opts = {k: v for k, v in mapping.items() if k != "type"}
    allowed = {
        "file": {"path"},
        "webhook": {"url", "url_env", "headers"},
        "slack": {"url_env"},
        "feishu": {"url_env", "secret_env"},
        "dingtalk": {"url_env", "secret_env"},
        "wecom": {"url_env"},
        "email": {"host", "port", "from", "to", "starttls", "user", "password_env"},
    }[kind]
    unknown = set(opts) - allowed
    if unknown:
        raise ValueError(
            f"channel {kind}: unknown key(s) {sorted(unknown)}; allowed {sorted(allowed)}"
        )
    if kind in HTTP_TYPES and not (opts.get("url_env") or opts.get("url")):
        raise ValueError(
            f"channel {kind}: 'url_env' (the environment variable with the URL) is required"
        )
    if kind == "webhook" and opts.get("url") and urllib.parse.urlsplit(opts["url"]).query:
        raise ValueError(
            "channel webhook: a 'url' with a query string looks like it carries a token; put "
            "the URL in an environment variable and give its name as 'url_env'"
        )
    if kind == "email":
        for key in ("host", "from", "to"):
            if not opts.get(key):
                raise ValueError(f"channel email: '{key}' is required")
        if isinstance(opts["to"], str):
            opts["to"] = [opts["to"]]
    if kind == "file" and not opts.get("path"):
        raise ValueError("channel file: 'path' is required")
    return Channel(kind, opts)


def redact_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "***"


def _env(name: str | None, what: str) -> str:
    if not name:
        raise _Fatal(f"no {what} configured")
    value = os.environ.get(name)
    if not value:
        raise _Fatal(f"environment variable {name} ({what}) is not set")
    return value


def _secrets(channel: Channel) -> list[str]:
    out = []
    for key in ("url_env", "secret_env", "password_env"):
        name = channel.options.get(key)
        if name and os.environ.get(name):
            out.append(os.environ[name])
    if channel.options.get("url"):
        out.append(channel.options["url"])
    return out


def _scrub(text: str, secrets: list[str]) -> str:
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            text = text.replace(s, "***")
            parts = urllib.parse.urlsplit(s)
            if parts.query:
                text = text.replace(parts.query, "***")
    return text


def _payload(message: Message, channel: Channel) -> dict[str, Any]:
    head = f"[{message.severity}] {message.title}"
    facts = "\n".join(f"{k}: {v}" for k, v in message.fields.items())
    if channel.type == "slack":
        return {
            "text": f"{head}\n{message.text}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": message.text}},
            ]
            + (
                [{"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]}]
                if facts
                else []
            ),
        }
    if channel.type == "feishu":
        return {"msg_type": "text", "content": {"text": f"{head}\n{message.text}"}}
    if channel.type == "dingtalk":
        return {
            "msgtype": "markdown",
            "markdown": {"title": message.title, "text": f"### {head}\n\n{message.text}"},
        }
    if channel.type == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": f"**{head}**\n{message.text}"}}
    return {**asdict(message), "source": "kpi-tree-warehouse"}


def feishu_sign(secret: str, timestamp: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def dingtalk_sign(secret: str, timestamp: str) -> str:
    msg = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def _post(message: Message, channel: Channel, timeout: float) -> None:
    opts = channel.options
    url = opts.get("url") or _env(opts.get("url_env"), "webhook URL")
    body = _payload(message, channel)
    secret_env = opts.get("secret_env")
    if channel.type == "feishu" and secret_env:
        ts = str(int(time.time()))
        body = {
            **body,
            "timestamp": ts,
            "sign": feishu_sign(_env(secret_env, "signing secret"), ts),
        }
    if channel.type == "dingtalk" and secret_env:
        ts = str(int(time.time() * 1000))
        sign = urllib.parse.quote_plus(dingtalk_sign(_env(secret_env, "signing secret"), ts))
        url = f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}"
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", **(opts.get("headers") or {})}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        if err.code >= 500 or err.code == 429:
            raise _Retryable(f"HTTP {err.code}") from err
        raise _Fatal(f"HTTP {err.code}: {err.read()[:200].decode('utf-8', 'replace')}") from err
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise _Retryable(f"cannot connect: {getattr(err, 'reason', err)}") from err
    if channel.type in ("feishu", "dingtalk", "wecom"):
        try:
            answer = json.loads(text)
        except ValueError as err:
            raise _Retryable(f"not a JSON answer: {text[:200]}") from err
        code = answer.get("code", answer.get("StatusCode", answer.get("errcode", 0)))
        if code != 0:
            msg = answer.get("msg") or answer.get("errmsg") or answer.get("StatusMessage")
            raise _Retryable(f"the service answered code {code}: {msg}")


def _email(message: Message, channel: Channel, timeout: float) -> None:
    o = channel.options
    mail = EmailMessage()
    mail["Subject"] = f"[{message.severity}] {message.title}"
    mail["From"] = o["from"]
    mail["To"] = ", ".join(o["to"])
    facts = "\n".join(f"{k}: {v}" for k, v in message.fields.items())
    mail.set_content(f"{message.text}\n\n{facts}\n", charset="utf-8")
    try:
        with smtplib.SMTP(o["host"], int(o.get("port", 25)), timeout=timeout) as smtp:
            if o.get("starttls"):
                smtp.starttls()
            if o.get("user"):
                smtp.login(o["user"], _env(o.get("password_env"), "SMTP password"))
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as err:
        raise _Retryable(f"SMTP: {err}") from err


def _file(message: Message, channel: Channel) -> None:
    path = Path(channel.options["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(message), ensure_ascii=False) + "\n")


def _target(channel: Channel) -> str:
    o = channel.options
    if channel.type == "file":
        return str(o["path"])
    if channel.type == "email":
        return f"smtp://{o['host']}:{o.get('port', 25)} to {', '.join(o['to'])}"
    if o.get("url"):
        return redact_url(o["url"])
    value = os.environ.get(o.get("url_env") or "")
    return redact_url(value) if value else f"${o.get('url_env')}"


def deliver(
    message: Message,
    channel: Channel,
    *,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """Deliver, retrying transient failures with exponential backoff; never raises."""
    secrets = _secrets(channel)
    target = _target(channel)
    error = None
    attempts = 0
    for attempt in range(max(1, retries)):
        attempts = attempt + 1
        try:
            if channel.type == "file":
                _file(message, channel)
            elif channel.type == "email":
                _email(message, channel, timeout)
            else:
                _post(message, channel, timeout)
            return DeliveryResult(
                channel.type,
                target,
                "delivered",
                attempts,
                None,
                dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
        except _Fatal as err:
            error = _scrub(str(err), secrets)
            break
        except (_Retryable, OSError) as err:
            error = _scrub(str(err), secrets)
            if attempts < retries:
                sleep(backoff * 2**attempt)
    log.warning(
        "alert %s not delivered to %s %s: %s", message.alert_id, channel.type, target, error
    )
    return DeliveryResult(channel.type, target, "failed", attempts, error, None)


def deliver_all(message: Message, channels: list[Channel], **kw: Any) -> list[DeliveryResult]:
    return [deliver(message, c, **kw) for c in channels]
