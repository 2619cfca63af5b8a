"""The words the alerts, the digest and the CLI share, in the active language (pipelines.i18n).

A KPI, a team or a source by its name in the tree (``tree.yaml`` has both languages), a
dimension member by its label in the shop's vocabulary, a status, a severity, a period:
written once here so that the chat message, the board's list and `kpi alerts` say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kpi_tree.formats import Formats
from kpi_tree.model import Node, Tree
from kpi_tree.vocabulary import Vocabulary
from pipelines.i18n import N_, _, lang, ngettext

#: a pace row's status
STATUS = {
    "on_track": N_("on track"),
    "at_risk": N_("at risk"),
    "short": N_("short"),
    # provisional without an expected value: only what has arrived so far, not judged
    "not_judged": N_("not judged yet"),
}
SEVERITY = {"critical": N_("critical"), "warning": N_("warning"), "info": N_("info")}
#: an alert's kind, as a reader names it
KIND = {
    "short": N_("short of pace"),
    "at_risk": N_("at risk"),
    "recovered": N_("back on track"),
    "break": N_("unusual day"),
    "held_back": N_("data held back"),
    "digest": N_("morning digest"),
}
#: "{kpi} month to date": the period so far
TO_DATE = {
    "day": N_("on the day"),
    "week": N_("week to date"),
    "month": N_("month to date"),
    "quarter": N_("quarter to date"),
    "year": N_("year to date"),
}
#: the period itself ("the month")
PERIOD = {
    "day": N_("the day"),
    "week": N_("the week"),
    "month": N_("the month"),
    "quarter": N_("the quarter"),
    "year": N_("the year"),
}
#: the tree's dimensions, as a reader names them
DIMENSION = {
    "channel": N_("channel"),
    "campaign": N_("campaign"),
    "carrier": N_("carrier"),
    "agent": N_("agent"),
    "payment_method": N_("payment method"),
    "topic": N_("topic"),
    "customer_type": N_("customer type"),
    "landing_page": N_("landing page"),
}

#: what became of a message on a channel, and the channels, as `kpi alerts` names them
DELIVERY = {
    "delivered": N_("sent"),
    "failed": N_("failed"),
    "undelivered": N_("undelivered"),
    "partial": N_("partly delivered"),
}
CHANNEL = {
    "file": N_("file"),
    "webhook": N_("webhook"),
    "email": N_("email"),
    "slack": N_("Slack"),
    "feishu": N_("Feishu"),
    "dingtalk": N_("DingTalk"),
    "wecom": N_("WeCom"),
}


def word(table: dict[str, str], key: str | None) -> str:
    """``key`` looked up in one of the tables above and translated; unknown keys as they are."""
    if key is None:
        return "–"
    return _(table[key]) if key in table else key


def kpi_name(node: Node) -> str:
    return node.zh if lang() == "zh" else node.en


def team_name(tree: Tree, team: str) -> str:
    info = tree.teams.get(team) or {}
    return str(info.get(lang()) or info.get("en") or team)


def source_name(tree: Tree, source: str) -> str:
    info = tree.sources.get(source) or {}
    return str(info.get(lang()) or info.get("en") or source)


#: the members of a dimension the tree fixes itself (not a shop's list in its vocabulary)
FIXED_MEMBERS = {
    ("customer_type", "new"): N_("new customers"),
    ("customer_type", "returning"): N_("returning customers"),
}


def member_label(vocabulary: Vocabulary, dimension: str, member: str) -> str:
    if (dimension, member) in FIXED_MEMBERS:
        return _(FIXED_MEMBERS[(dimension, member)])
    return vocabulary.label(dimension, member, lang())


def scope_label(vocabulary: Vocabulary, row: dict) -> str:
    """A pace row's scope for a reader: empty for the whole shop, else its member's label
    (``paid search`` / ``付费搜索``), or the scope as it is when it names no member."""
    scope = row.get("scope") or "all"
    if scope == "all":
        return ""
    dimension, member = row.get("dimension"), row.get("member")
    if dimension and member is not None and dimension != "total":
        return member_label(vocabulary, dimension, member)
    return scope.split(":", 1)[-1]


def joined(items: list[str]) -> str:
    """Items in a sentence: "a, b, c" / "a、b、c"."""
    return _(", ").join(items)


def nothing_observed(observed: float | None) -> bool:
    """An expected value's observed part is nothing at all: no outcome of its days has
    arrived yet (a day shipped today has no sign-off, no return), which is not a value of 0."""
    return observed is not None and float(observed) == 0


def observed_text(formats: Formats, observed: float | None, unit: str) -> str:
    """What has arrived so far beside an expected final value: the amount, or "none yet"
    when no outcome has arrived (never ¥0)."""
    if observed is None:
        return "–"
    if nothing_observed(observed):
        return _("none yet")
    return formats.value(float(observed), unit)


def days_without(tree: Tree, row: Mapping[str, Any]) -> str:
    """The days of a period that lack a source, with the sources by their names in the
    reader's language ("2 days without sessions" / "2 天缺少流量"); empty when none does. The
    alerts, the digest and `kpi targets show` all say it this way (``gap_sources`` holds the
    sources' ids, comma-separated)."""
    n = int(row.get("missing_days") or 0)
    if not n:
        return ""
    ids = [s for s in str(row.get("gap_sources") or "").split(",") if s]
    sources = joined([source_name(tree, s) for s in ids]) if ids else _("a source")
    return ngettext("{n} day without {sources}", "{n} days without {sources}", n).format(
        n=n, sources=sources
    )
