"""Deliver one alert message to one channel: never raises, retries with backoff, leaks nothing.

Channel types (``kpi.yaml`` ``alerts.channels.<team>``, a list of mappings, each read by the
pydantic model of its ``type``, :data:`ChannelConfig`; see :func:`parse_channel`):

- ``file`` (the default sink): ``path`` (default ``alerts/outbox.jsonl`` under the data
  directory); appends one JSON line per message.
- ``webhook``: generic JSON POST of the message (``dataclasses.asdict`` plus
  ``"source": "kpi-tree-warehouse"``); ``url_env``, or a plain ``url`` *without a query string*
  (webhook tokens live in query strings, e.g. ``?key=…`` or ``?access_token=…``, and a token
  belongs in the environment, not in a config file that is committed and copied around);
  optional ``headers`` (plain, non-secret) and ``headers_env`` (header name -> name of the
  environment variable holding its value, e.g. an ``Authorization`` header).
- ``slack``: Slack incoming webhook; ``url_env``; {"text", "blocks"}; success = HTTP 200.
- ``feishu``: Feishu / Lark custom bot; ``url_env``, optional ``secret_env``; signed with
  ``timestamp`` (seconds) and ``sign = base64(HMAC-SHA256(key="{timestamp}\\n{secret}",
  msg=b""))``; success = JSON ``code == 0`` (or ``StatusCode == 0``).
- ``dingtalk``: DingTalk custom robot; ``url_env``, optional ``secret_env``; signed by appending
  ``&timestamp=<ms>&sign=<urlencoded base64(HMAC-SHA256(key=secret,
  msg="{timestamp}\\n{secret}"))>`` to the URL; success = JSON ``errcode == 0``.
- ``wecom``: WeCom (企业微信) group robot; ``url_env``; markdown; success = JSON
  ``errcode == 0``.
- ``email``: SMTP; ``host``, ``port`` (default 587 with ``starttls``, else 25), ``from``,
  ``to`` (a list, or one address), optional ``starttls`` (bool; the server certificate is
  verified), optional ``user`` with ``password_env``.

Secrets (webhook URLs, signing secrets, SMTP passwords, secret header values) come from the
environment, never from the config file: the config names the variables (``*_env``). A missing
variable is a failed delivery naming the variable, not an exception.

:func:`deliver` never raises for delivery problems. Results and log lines show the target as
``scheme://host[:port]/…`` (no path, no query) and error texts with every secret value (and
the tokens inside a secret URL: its path, query and query values) replaced by ``***``.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from kpi_tree.config import ConfigModel, Flag, Integer, Text, blank, describe, problem, report

log = logging.getLogger(__name__)

SOURCE = "kpi-tree-warehouse"
TYPES = ("file", "webhook", "slack", "feishu", "dingtalk", "wecom", "email")
HTTP_TYPES = ("webhook", "slack", "feishu", "dingtalk", "wecom")
SIGNED_TYPES = ("feishu", "dingtalk")

#: keys that would put a secret into the config file -> the key to use instead
_SECRET_KEYS = {
    "secret": "secret_env",
    "password": "password_env",
    "token": "url_env",
    "webhook": "url_env",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+\Z")
_MAX_ANSWER = 64 * 1024  # bytes of a service's answer that are read


@dataclass(frozen=True)
class Mention:
    """Someone a chat message @-mentions: their id on each platform (none: named only)."""

    name: str
    feishu: str | None = None  # open_id (ou_…) or user_id: what a Feishu custom bot can @
    dingtalk_mobile: str | None = None
    dingtalk_user: str | None = None
    wecom: str | None = None  # the WeCom userid
    slack: str | None = None  # the Slack member id (U…)


@dataclass(frozen=True)
class Message:
    """One alert or digest, already worded in the reader's language; ``text`` is plain text
    (lines separated by newlines) and may contain Chinese.

    ``fields`` are label -> value pairs, already formatted; ``link`` is the board (a button,
    when the board has an address readers can reach: ``serve.base_url``); ``tone`` chooses the
    status colour (:data:`TONES`); ``mentions`` are the team's owners."""

    alert_id: str
    kind: str  # short | at_risk | recovered | break | held_back | digest
    severity: str  # info | warning | critical
    team: str
    title: str
    text: str
    day: str  # ISO date
    kpi: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # e.g. attainment, gap
    link: str | None = None
    link_text: str = "Open the board"
    mentions: tuple[Mention, ...] = ()
    note: str | None = None  # a last, small line: the team, the day
    tone: str = "info"


#: a message's status colour on each platform: Feishu's header template, Slack's attachment
#: colour, WeCom's font colour, and the mark a title starts with where colour is not available
TONES = {
    "critical": {"feishu": "red", "slack": "#D1242F", "wecom": "warning", "mark": "🔴"},
    "warning": {"feishu": "orange", "slack": "#E36209", "wecom": "warning", "mark": "🟠"},
    "info": {"feishu": "blue", "slack": "#0969DA", "wecom": "comment", "mark": "🔵"},
    "good": {"feishu": "green", "slack": "#1A7F37", "wecom": "info", "mark": "🟢"},
}


@dataclass(frozen=True)
class Channel:
    """One delivery channel, as :data:`ChannelConfig` makes it; holds no secret values."""

    type: str
    path: str | None = None  # file
    url: str | None = None  # webhook only, never with a query string
    url_env: str | None = None  # http types: the variable holding the URL
    secret_env: str | None = None  # feishu, dingtalk: the variable holding the signing secret
    headers: tuple[tuple[str, str], ...] = ()  # webhook: plain header values
    headers_env: tuple[tuple[str, str], ...] = ()  # webhook: header -> variable with its value
    host: str | None = None  # email
    port: int | None = None
    sender: str | None = None  # the config key ``from``
    to: tuple[str, ...] = ()
    starttls: bool = False
    user: str | None = None
    password_env: str | None = None


@dataclass(frozen=True)
class DeliveryResult:
    channel_type: str
    target: str  # redacted: scheme://host[:port]/…, a file path, or smtp://host:port to …
    status: str  # delivered | failed
    attempts: int  # sends tried; 0 when the channel could not be set up (e.g. a missing variable)
    error: str | None = None  # redacted
    delivered_at: str | None = None  # ISO timestamp, UTC


class _Retryable(Exception):
    """A failure worth another try: connection, timeout, HTTP 5xx/429, a "not ok" answer."""


class _Fatal(Exception):
    """A failure another try will not fix: configuration, HTTP 4xx, refused login."""


class _Setup(_Fatal):
    """The channel could not be set up (e.g. a missing environment variable): nothing sent."""


# --- configuration ----------------------------------------------------------------------------


def _env_name(value: str) -> str:
    if _ENV_NAME.match(value):
        return value
    hint = ""
    if "://" in value or len(value) > 64:
        hint = " (it looks like the secret itself: put that in the environment instead)"
    # the value is not echoed: a misplaced secret must not end up in logs
    raise ValueError(
        f"must be the name of an environment variable (letters, digits, '_'), not a value{hint}"
    )


def _plain_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    if parts.query or parts.username or parts.password:
        raise ValueError(
            "must not have a query string or user info: tokens live there; put the URL in an "
            "environment variable and give the variable's name as 'url_env'"
        )
    return url


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise ValueError("is not a valid HTTP header name")
    return name


def _one_line(value: str | int | float) -> str:
    text = str(value)
    if any(c in text for c in "\r\n"):
        raise ValueError("a header needs a one-line value")
    return text


def _address(value: str) -> str:
    value = value.strip()
    if "@" not in value:
        raise ValueError("must be an e-mail address")
    return value


def _one_or_more(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: the name of an environment variable that holds a secret (never the secret itself)
EnvName = Annotated[
    str,
    Strict(),
    AfterValidator(_env_name),
    Field(json_schema_extra={"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}),
]
HeaderName = Annotated[str, Strict(), AfterValidator(_header_name)]
EmailAddress = Annotated[str, Strict(), AfterValidator(_address)]
#: where a file channel appends when it names no path (under the data directory)
DEFAULT_OUTBOX = "alerts/outbox.jsonl"
#: the keys that would put a secret into the config file: refused, naming the key to use
_SECRET_FIELD = Field(None, exclude=True)


class _ChannelConfig(ConfigModel):
    """What every channel refuses: a secret written into the config file."""

    secret: SkipJsonSchema[Any] = _SECRET_FIELD
    password: SkipJsonSchema[Any] = _SECRET_FIELD
    token: SkipJsonSchema[Any] = _SECRET_FIELD
    webhook: SkipJsonSchema[Any] = _SECRET_FIELD

    @field_validator("secret", "password", "token", "webhook", mode="before")
    @classmethod
    def _no_secret(cls, value: Any, info: ValidationInfo) -> Any:
        raise ValueError(
            "would put a secret into the config file: put it in an environment variable and "
            f"give the variable's name as '{_SECRET_KEYS[str(info.field_name)]}'"
        )

    def channel(self, base: Path | None = None) -> Channel:  # pragma: no cover - abstract
        raise NotImplementedError


class FileChannel(_ChannelConfig):
    """Appends one JSON line per message to a file (the default sink)."""

    type: Literal["file"]
    path: Text = Field(
        DEFAULT_OUTBOX,
        description="the JSON-lines file to append to; a relative path is under the data directory",
    )

    def channel(self, base: Path | None = None) -> Channel:
        path = Path(self.path)
        return Channel(
            type="file", path=str(base / path if base and not path.is_absolute() else path)
        )


class WebhookChannel(_ChannelConfig):
    """A generic JSON POST of the message."""

    type: Literal["webhook"]
    url: Annotated[str, Strict(), AfterValidator(_plain_url)] | None = Field(
        None, description="a plain http(s) URL without a query string (tokens go in url_env)"
    )
    url_env: EnvName | None = Field(None, description="the environment variable holding the URL")
    headers: Annotated[
        dict[HeaderName, Annotated[str | int | float, AfterValidator(_one_line)]],
        blank({}, dict[str, str]),
    ] = Field({}, description="plain, non-secret header values")
    headers_env: Annotated[dict[HeaderName, EnvName], blank({}, dict[str, str])] = Field(
        {}, description="header name -> the environment variable holding its value"
    )

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannel:
        if self.url is not None and self.url_env is not None:
            raise problem("url", "give either 'url' or 'url_env', not both")
        if self.url is None and self.url_env is None:
            raise problem(
                "url_env",
                "is required: the name of the environment variable that holds the URL (or a "
                "plain 'url' without a query string)",
            )
        return self

    def channel(self, base: Path | None = None) -> Channel:
        return Channel(
            type="webhook",
            url=self.url,
            url_env=self.url_env,
            headers=tuple((k, str(v)) for k, v in self.headers.items()),
            headers_env=tuple(self.headers_env.items()),
        )


class _UrlFromEnv(_ChannelConfig):
    """A service whose URL carries its token: the URL only ever comes from the environment."""

    url: SkipJsonSchema[Any] = Field(None, exclude=True)
    url_env: EnvName = Field(description="the environment variable that holds the URL")

    @field_validator("url", mode="before")
    @classmethod
    def _no_url(cls, value: Any) -> Any:
        raise ValueError(
            "is not allowed: this service's URL carries its token; put the URL in an "
            "environment variable and give the variable's name as 'url_env'"
        )

    def channel(self, base: Path | None = None) -> Channel:
        secret = getattr(self, "secret_env", None)
        return Channel(type=self.type, url_env=self.url_env, secret_env=secret)  # type: ignore[attr-defined]


class SlackChannel(_UrlFromEnv):
    """A Slack incoming webhook."""

    type: Literal["slack"]


class FeishuChannel(_UrlFromEnv):
    """A Feishu / Lark custom bot, signed when it has a secret."""

    type: Literal["feishu"]
    secret_env: EnvName | None = Field(
        None, description="the environment variable holding the signing secret"
    )


class DingTalkChannel(_UrlFromEnv):
    """A DingTalk custom robot, signed when it has a secret."""

    type: Literal["dingtalk"]
    secret_env: EnvName | None = Field(
        None, description="the environment variable holding the signing secret"
    )


class WeComChannel(_UrlFromEnv):
    """A WeCom (企业微信) group robot."""

    type: Literal["wecom"]


class EmailChannel(_ChannelConfig):
    """SMTP; the server certificate is verified with starttls."""

    type: Literal["email"]
    host: Text
    port: Annotated[Integer, Field(ge=1, le=65535)] | None = Field(
        None, description="587 with starttls, else 25"
    )
    sender: Text = Field(alias="from", description="the sender's address")
    to: Annotated[
        tuple[EmailAddress, ...],
        Field(min_length=1),
        BeforeValidator(_one_or_more, json_schema_input_type=str | list[str]),
    ] = Field(description="one address or a list")
    starttls: Flag = False
    user: Text | None = Field(None, description="the SMTP login, with password_env")
    password_env: EnvName | None = Field(
        None, description="the environment variable holding the SMTP password"
    )

    @model_validator(mode="after")
    def _login(self) -> EmailChannel:
        if (self.user is None) != (self.password_env is None):
            missing = "password_env" if self.user else "user"
            raise problem(
                missing, "is required: 'user' and 'password_env' go together (SMTP login)"
            )
        return self

    def channel(self, base: Path | None = None) -> Channel:
        return Channel(
            type="email",
            host=self.host.strip(),
            port=self.port or (587 if self.starttls else 25),
            sender=self.sender.strip(),
            to=self.to,
            starttls=self.starttls,
            user=self.user,
            password_env=self.password_env,
        )


_MOBILE = re.compile(r"\+?[0-9][0-9-]{5,19}\Z")
_SLACK_MEMBER = re.compile(r"[UW][A-Z0-9]{2,}\Z")


def _mobile(value: str) -> str:
    if not _MOBILE.match(value):
        raise ValueError("must be a mobile number (digits, e.g. 13800000000)")
    return value


def _slack_member(value: str) -> str:
    if not _SLACK_MEMBER.match(value):
        raise ValueError(
            "must be a Slack member id (U… or W…, from the member's profile: Copy member ID)"
        )
    return value


class Owner(ConfigModel):
    """Someone a team's chat messages @-mention (``alerts.owners.<team>``): a name, and their
    id on the platforms the team's channels use."""

    name: Text
    feishu: Text | None = Field(
        None, description="Feishu open_id (ou_…) or user_id: what a custom bot can @"
    )
    dingtalk_mobile: Annotated[str, Strict(), AfterValidator(_mobile)] | None = Field(
        None, description="the mobile number DingTalk @-mentions by"
    )
    dingtalk_user: Text | None = Field(None, description="or the DingTalk userId")
    wecom: Text | None = Field(None, description="the WeCom userid (<@userid>)")
    slack: Annotated[str, Strict(), AfterValidator(_slack_member)] | None = Field(
        None, description="the Slack member id (U…)"
    )

    def mention(self) -> Mention:
        return Mention(
            self.name,
            feishu=self.feishu,
            dingtalk_mobile=self.dingtalk_mobile,
            dingtalk_user=self.dingtalk_user,
            wecom=self.wecom,
            slack=self.slack,
        )


#: one channel of ``alerts.channels.<team>`` in kpi.yaml, by its ``type``
ChannelConfig = Annotated[
    FileChannel
    | WebhookChannel
    | SlackChannel
    | FeishuChannel
    | DingTalkChannel
    | WeComChannel
    | EmailChannel,
    Field(discriminator="type"),
]
_CHANNEL: TypeAdapter[Any] = TypeAdapter(ChannelConfig)


def parse_channel(mapping: Mapping[str, Any], base: Path | None = None) -> Channel:
    """Validate one channel mapping from the config; ValueError names the bad key. A relative
    file path is taken under ``base`` (the data directory).

    No value is echoed in the error message: it might be a secret.
    """
    try:
        config = _CHANNEL.validate_python(mapping)
    except ValidationError as err:
        kind = mapping.get("type") if isinstance(mapping, Mapping) else None
        where = f"alert channel ({kind})" if kind in TYPES else "alert channel"
        # `from None`: pydantic's own error would carry the values it was given
        raise ValueError(report(where, describe(ChannelConfig, err, quiet=_always))) from None
    return config.channel(base)


def _always(place: tuple[str | int, ...]) -> bool:
    return True


# --- redaction --------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: no user info, path or query (where webhook tokens live)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not host:
        return "***"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}/…"


def _secret_variants(value: str) -> set[str]:
    """The value and the pieces of it that would leak it (URL tokens, encoded forms)."""
    out = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    if "://" in value:
        try:
            parts = urllib.parse.urlsplit(value)
        except ValueError:
            return out
        if parts.password:
            out.add(parts.password)
        if len(parts.path) > 1:
            out.add(parts.path)
            out.update(seg for seg in parts.path.split("/") if len(seg) >= 8)
        if parts.query:
            out.add(parts.query)
            for _, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
                if len(v) >= 6:
                    out.update({v, urllib.parse.quote(v, safe=""), urllib.parse.quote_plus(v)})
    return {s for s in out if s}


class _Scrubber:
    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: str | None) -> None:
        if value:
            self._secrets |= _secret_variants(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def _env(name: str, what: str, scrub: _Scrubber) -> str:
    value = os.environ.get(name)
    if not value:
        raise _Setup(f"environment variable {name} ({what}) is not set")
    scrub.add(value)
    return value


# --- payloads ---------------------------------------------------------------------------------

#: what each service takes (their documentation): Slack's header block 150 characters, a
#: section's text 3000, 10 fields of 2000, a button's text 75; WeCom's markdown 4096 bytes;
#: Feishu's request 20 KB; DingTalk's 20,000 bytes
SLACK_HEADER, SLACK_TEXT, SLACK_FIELDS, SLACK_FIELD, SLACK_BUTTON = 150, 3000, 10, 2000, 75
WECOM_BYTES = 4096
FEISHU_BYTES = 20 * 1024
DINGTALK_BYTES = 20000


def _tone(message: Message) -> dict[str, str]:
    return TONES.get(message.tone, TONES["info"])


def _facts(message: Message, bullet: str = "") -> str:
    return "\n".join(f"{bullet}{k}: {v}" for k, v in message.fields.items())


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _feishu_escape(text: str) -> str:
    """Feishu's card markdown reads ``<`` ``>`` as tags and ``*`` ``_`` ``~`` as emphasis."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "*_~`":
        text = text.replace(char, "\\" + char)
    return text


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def _slack(message: Message) -> dict[str, Any]:
    """Block Kit: the header and the explanation, the fields, a context line and the board's
    button, in an attachment of the status colour; ``text`` is the notification's."""
    mark = _tone(message)["mark"]
    mentions = " ".join(f"<@{m.slack}>" for m in message.mentions if m.slack)
    body = _slack_escape(message.text) + (f"\n{mentions}" if mentions else "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(f"{mark} {message.title}", SLACK_HEADER)},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, SLACK_TEXT)}},
    ]
    items = list(message.fields.items())
    for start in range(0, len(items), SLACK_FIELDS):
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _cut(f"*{_slack_escape(k)}*\n{_slack_escape(v)}", SLACK_FIELD),
                    }
                    for k, v in items[start : start + SLACK_FIELDS]
                ],
            }
        )
    if message.note:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _slack_escape(message.note)}],
            }
        )
    if message.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {
                            "type": "plain_text",
                            "text": _cut(message.link_text, SLACK_BUTTON),
                        },
                        "url": message.link,
                        "style": "primary",
                    }
                ],
            }
        )
    text = _slack_escape(f"{mark} {message.title}") + (f" {mentions}" if mentions else "")
    return {"text": text, "attachments": [{"color": _tone(message)["slack"], "blocks": blocks}]}


def _feishu(message: Message) -> dict[str, Any]:
    """An interactive card (card JSON 2.0): a header in the status colour, the explanation
    with the owners @-mentioned (``<at id=…>``: a custom bot can @ by open_id or user_id),
    the fields, and a button that opens the board."""
    mentions = " ".join(f"<at id={m.feishu}></at>" for m in message.mentions if m.feishu)
    elements: list[dict[str, Any]] = [
        {
            "tag": "markdown",
            "content": _feishu_escape(message.text) + (f"\n{mentions}" if mentions else ""),
        }
    ]
    if message.fields:
        elements.append(
            {
                "tag": "markdown",
                "content": "\n".join(
                    f"**{_feishu_escape(k)}**：{_feishu_escape(v)}"
                    for k, v in message.fields.items()
                ),
            }
        )
    if message.note:
        elements.append(
            {
                "tag": "markdown",
                "content": f"<font color='grey'>{_feishu_escape(message.note)}</font>",
                "text_size": "notation",
            }
        )
    if message.link:
        elements.append({"tag": "hr"})
        elements.append(
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": _cut(message.link_text, 100)},
                "type": "primary_filled",
                "behaviors": [{"type": "open_url", "default_url": message.link}],
            }
        )
    if len(json.dumps(elements, ensure_ascii=False).encode("utf-8")) > FEISHU_BYTES - 2048:
        elements[0]["content"] = _cut_bytes(elements[0]["content"], FEISHU_BYTES // 2)
    card = {
        "schema": "2.0",
        "config": {"update_multi": True},
        "header": {
            "title": {"tag": "plain_text", "content": message.title},
            "template": _tone(message)["feishu"],
        },
        "body": {"elements": elements},
    }
    return {"msg_type": "interactive", "card": card}


def _dingtalk(message: Message) -> dict[str, Any]:
    """An ActionCard (the whole card opens the board; a markdown message without a link):
    its markdown names the owners (``@mobile``), and ``at`` notifies them."""
    mobiles = [m.dingtalk_mobile for m in message.mentions if m.dingtalk_mobile]
    users = [m.dingtalk_user for m in message.mentions if m.dingtalk_user]
    mark = _tone(message)["mark"]
    lines = [f"#### {mark} {message.title}", "", *message.text.split("\n")]
    if message.fields:
        lines += ["", *(f"- **{k}**：{v}" for k, v in message.fields.items())]
    if message.note:
        lines += ["", f"###### {message.note}"]
    if mobiles or users:
        lines += ["", " ".join(f"@{who}" for who in [*mobiles, *users])]
    text = _cut_bytes("\n".join(lines), DINGTALK_BYTES - 2000)
    at = {"atMobiles": mobiles, "atUserIds": users, "isAtAll": False}
    if message.link:
        card = {
            "title": message.title,
            "text": text,
            "btnOrientation": "0",
            "singleTitle": message.link_text,
            "singleURL": message.link,
        }
        return {"msgtype": "actionCard", "actionCard": card, "at": at}
    return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}, "at": at}


def _wecom(message: Message) -> dict[str, Any]:
    """Markdown (4096 bytes): the title in the status colour, the explanation, the fields as
    quotes, the owners as ``<@userid>``, a link to the board."""
    colour = _tone(message)["wecom"]
    lines = [f'**<font color="{colour}">{message.title}</font>**', message.text]
    lines += [f'> {k}：<font color="comment">{v}</font>' for k, v in message.fields.items()]
    if message.note:
        lines.append(f'<font color="comment">{message.note}</font>')
    tail = []
    if message.link:
        tail.append(f"[{message.link_text}]({message.link})")
    mentions = " ".join(f"<@{m.wecom}>" for m in message.mentions if m.wecom)
    if mentions:
        tail.append(mentions)
    end = ("\n" + "\n".join(tail)) if tail else ""
    # the link and the mentions are kept whole: what is cut is the body before them
    body = _cut_bytes("\n".join(lines), WECOM_BYTES - len(end.encode("utf-8")))
    return {"msgtype": "markdown", "markdown": {"content": body + end}}


def build_payload(message: Message, channel_type: str) -> dict[str, Any]:
    """The JSON body each HTTP service expects (without Feishu's signature fields)."""
    if channel_type == "slack":
        return _slack(message)
    if channel_type == "feishu":
        return _feishu(message)
    if channel_type == "dingtalk":
        return _dingtalk(message)
    if channel_type == "wecom":
        return _wecom(message)
    if channel_type == "webhook":
        return {**asdict(message), "source": SOURCE}
    raise ValueError(f"no HTTP payload for channel type {channel_type!r}")


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu: the string to sign is the HMAC *key*, the message is empty."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk: key = secret, message = "{timestamp}\\n{secret}" (not yet URL-encoded)."""
    msg = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


# --- senders ----------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured; following it would drop the POST body."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _http_url(channel: Channel, scrub: _Scrubber) -> str:
    if channel.url:
        scrub.add(channel.url)
        return channel.url
    assert channel.url_env
    url = _env(channel.url_env, "webhook URL", scrub)
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018
    except ValueError:
        raise _Setup(f"environment variable {channel.url_env} does not hold a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Setup(f"environment variable {channel.url_env} does not hold an http(s) URL")
    return url


def _post(message: Message, channel: Channel, timeout: float, scrub: _Scrubber) -> None:
    url = _http_url(channel, scrub)
    body = build_payload(message, channel.type)
    secret = (
        _env(channel.secret_env, "signing secret", scrub)
        if channel.secret_env and channel.type in SIGNED_TYPES
        else None
    )
    if channel.type == "feishu" and secret:
        timestamp = str(int(time.time()))
        sign = feishu_sign(secret, timestamp)
        scrub.add(sign)
        body = {"timestamp": timestamp, "sign": sign, **body}
    if channel.type == "dingtalk" and secret:
        timestamp = str(int(time.time() * 1000))
        sign = dingtalk_sign(secret, timestamp)
        scrub.add(sign)
        query = urllib.parse.urlencode({"timestamp": timestamp, "sign": sign})
        url = f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{query}"
        scrub.add(url)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": SOURCE}
    headers.update(channel.headers)
    for name, env_name in channel.headers_env:
        headers[name] = _env(env_name, f"header {name}", scrub)
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            answer = response.read(_MAX_ANSWER).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        try:
            detail = err.read(500).decode("utf-8", "replace").strip()
        except Exception:  # the body is only a detail
            detail = ""
        finally:
            err.close()
        text = f"HTTP {err.code} {err.reason}" + (f": {detail[:300]}" if detail else "")
        if err.code >= 500 or err.code == 429:
            raise _Retryable(text) from None
        raise _Fatal(text) from None
    except urllib.error.URLError as err:
        raise _Retryable(f"cannot connect: {err.reason}") from None
    except (TimeoutError, OSError, http.client.HTTPException) as err:
        raise _Retryable(f"{type(err).__name__}: {err}") from None
    _check_answer(channel.type, status, answer)


def _check_answer(channel_type: str, status: int, answer: str) -> None:
    if channel_type == "slack":
        if status != 200:
            raise _Retryable(f"slack answered HTTP {status}: {answer[:300]}")
        return
    if channel_type == "webhook":
        return  # any 2xx
    try:
        doc = json.loads(answer)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise _Retryable(f"{channel_type} answered HTTP {status} without JSON: {answer[:300]}")
    if channel_type == "feishu":
        if doc.get("code") == 0 or doc.get("StatusCode") == 0:
            return
        code = doc.get("code", doc.get("StatusCode"))
        msg = doc.get("msg") or doc.get("StatusMessage")
        raise _Retryable(f"feishu answered code {code}: {msg}")
    if doc.get("errcode") == 0:  # dingtalk, wecom
        return
    raise _Retryable(f"{channel_type} answered errcode {doc.get('errcode')}: {doc.get('errmsg')}")


def _email(message: Message, channel: Channel, timeout: float, scrub: _Scrubber) -> str | None:
    assert channel.host and channel.port and channel.sender
    password = None
    if channel.user and channel.password_env:
        password = _env(channel.password_env, "SMTP password", scrub)
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    mail["To"] = ", ".join(channel.to)
    mail["Date"] = email.utils.formatdate(localtime=False)
    mail["Message-ID"] = email.utils.make_msgid(domain=channel.sender.rpartition("@")[2] or None)
    mail["X-KPI-Alert-Id"] = message.alert_id
    facts = _facts(message)
    about = f"severity: {message.severity}\nteam: {message.team}\nday: {message.day}"
    if message.kpi:
        about += f"\nkpi: {message.kpi}"
    body = f"{message.text}\n\n" + (f"{facts}\n" if facts else "")
    if message.link:
        body += f"\n{message.link_text}: {message.link}\n"
    if message.mentions:
        body += "\n" + ", ".join(m.name for m in message.mentions) + "\n"
    body += f"\n{about}\n"
    mail.set_content(body, charset="utf-8", cte="quoted-printable")
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=timeout) as smtp:
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if channel.user and password is not None:
                smtp.login(channel.user, password)
            refused = smtp.send_message(mail, from_addr=channel.sender, to_addrs=list(channel.to))
    except smtplib.SMTPAuthenticationError as err:
        raise _Fatal(f"SMTP login refused ({err.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as err:
        raise _Fatal(f"SMTP refused every recipient: {', '.join(err.recipients)}") from None
    except smtplib.SMTPNotSupportedError as err:
        raise _Fatal(f"SMTP: {err}") from None
    except smtplib.SMTPResponseException as err:
        text = f"SMTP {err.smtp_code}: {_smtp_text(err.smtp_error)}"
        if err.smtp_code >= 500:
            raise _Fatal(text) from None
        raise _Retryable(text) from None
    except (smtplib.SMTPException, OSError) as err:
        raise _Retryable(f"SMTP {type(err).__name__}: {err}") from None
    if refused:
        return f"SMTP refused some recipients: {', '.join(sorted(refused))}"
    return None


def _smtp_text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _file(message: Message, channel: Channel) -> None:
    assert channel.path
    path = Path(channel.path)
    line = json.dumps(asdict(message), ensure_ascii=False) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError as err:
        raise _Retryable(f"cannot append to {path}: {err.strerror or err}") from None


def _target(channel: Channel) -> str:
    if channel.type == "file":
        return str(channel.path)
    if channel.type == "email":
        return f"smtp://{channel.host}:{channel.port} to {', '.join(channel.to)}"
    if channel.url:
        return redact_url(channel.url)
    value = os.environ.get(channel.url_env or "")
    return redact_url(value) if value else f"${channel.url_env}"


# --- delivery ---------------------------------------------------------------------------------


#: a delivery's error when the night's delivery time budget (alerts.budget_seconds) ran out
BUDGET_SPENT = "the delivery time budget was spent"


def _left(deadline: float | None) -> float:
    return float("inf") if deadline is None else deadline - time.monotonic()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def deliver(
    message: Message,
    channel: Channel,
    *,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> DeliveryResult:
    """Deliver ``message`` to ``channel``; never raises for delivery problems.

    Up to ``retries`` sends; after a transient failure (connection error, timeout, HTTP 5xx or
    429, the service's "not ok" answer) waits ``backoff * 2**attempt`` seconds (attempt = 0, 1,
    …) before the next. A configuration problem (a missing environment variable) or a
    permanent one (HTTP 4xx, a refused SMTP login) fails at once. ``deadline`` (a
    ``time.monotonic()`` value): no send starts and no wait runs past it, and a send's timeout
    is cut to what is left, so a dead service cannot hold the night longer.
    """
    kind = getattr(channel, "type", "?")
    target = "?"
    scrub = _Scrubber()
    attempts = 0
    try:
        scrub.add(getattr(channel, "url", None))
        target = _target(channel)
        tries = max(1, int(retries))
        error: str | None = None
        for attempt in range(tries):
            left = _left(deadline)
            if left <= 0:
                error = (error + "; " if error else "") + BUDGET_SPENT
                break
            attempts = attempt + 1
            try:
                note = None
                if kind == "file":
                    _file(message, channel)
                elif kind == "email":
                    note = _email(message, channel, min(timeout, left), scrub)
                elif kind in HTTP_TYPES:
                    _post(message, channel, min(timeout, left), scrub)
                else:
                    raise _Fatal(f"unknown channel type {kind!r}")
            except _Fatal as err:
                error = scrub(str(err))
                if isinstance(err, _Setup):
                    attempts = attempt  # nothing was sent
                break
            except _Retryable as err:
                error = scrub(str(err))
                if attempts < tries:
                    delay = max(0.0, backoff) * 2**attempt
                    log.info(
                        "alert %s to %s %s: attempt %d failed (%s); retrying in %.3g s",
                        message.alert_id,
                        kind,
                        target,
                        attempts,
                        error,
                        delay,
                    )
                    sleep(min(delay, max(0.0, _left(deadline))))
                continue
            note = scrub(note) if note else None
            log.info(
                "alert %s delivered to %s %s (attempt %d)", message.alert_id, kind, target, attempts
            )
            return DeliveryResult(kind, target, "delivered", attempts, note, _now())
    except Exception as err:  # a delivery never fails the run
        error = scrub(f"unexpected {type(err).__name__}: {err}")
    log.warning(
        "alert %s not delivered to %s %s after %d attempt(s): %s",
        getattr(message, "alert_id", "?"),
        kind,
        target,
        attempts,
        error,
    )
    return DeliveryResult(kind, target, "failed", attempts, error, None)


def deliver_all(message: Message, channels: Iterable[Channel], **kw: Any) -> list[DeliveryResult]:
    """Deliver to every channel at once (a slow one does not make the others wait); one
    channel's failure does not stop the others. The results are in the channels' order."""
    channels = list(channels)
    if len(channels) <= 1:
        return [deliver(message, channel, **kw) for channel in channels]
    with ThreadPoolExecutor(max_workers=len(channels), thread_name_prefix="alert") as pool:
        return list(pool.map(lambda channel: deliver(message, channel, **kw), channels))
