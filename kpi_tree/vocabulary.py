"""The shop's vocabulary: the members its files may name for channels, carriers, payment
methods and conversation topics, with their labels in English and Chinese and the roles the
KPIs depend on (which channels are paid, which payment method is cash on delivery, which
topics are presale inquiries, after-sale, order review).

Read from ``kpi.yaml`` (``vocabulary:``, see ``docs/configuration.md``); the defaults are the
sample shop's. Everything that names members takes them from here: the ingestion contracts
(an unknown member is quarantined, or mapped to a member when the list says so), the dbt
models and tests (as the var ``kpi_vocabulary``, :meth:`Vocabulary.dbt_vars`), the gates'
"every regular member present", the sample shop, and the board and alerts, which show a
member by its label in the reader's language.

Pure pydantic (no pipelines): the tree's layer, so the gates and the sample shop can use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, Field, Strict, model_validator

from kpi_tree.config import ConfigModel, Flag, Text, blank, problem

_MEMBER_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def _member_id(value: str) -> str:
    if not _MEMBER_ID.match(value):
        raise ValueError(
            "a member is written in lowercase letters, digits and underscores, starting with a "
            f"letter (e.g. paid_search), not {value!r}: put the file's own word in a value map"
        )
    return value


#: a member as the files write it (after any value map) and the tables publish it: lowercase
#: letters, digits and underscores, so it is the same word in every file, query and page
MemberId = Annotated[
    str,
    Strict(),
    AfterValidator(_member_id),
    Field(json_schema_extra={"pattern": _MEMBER_ID.pattern}),
]

#: the roles a conversation topic can have: the KPIs count presale inquiries
TOPIC_ROLES = ("presale", "aftersale", "order_review")
#: what happens to a value that is not a member: its row is quarantined, or it is mapped
UNKNOWN = ("quarantine", "map")
#: display languages, and the locale each is formatted in on the board
LANGUAGES = ("en", "zh")


class Member(ConfigModel):
    """A member of a list: its labels (each falls back to the other, then to the member)."""

    en: Text | None = Field(None, description="label in English")
    zh: Text | None = Field(None, description="label in Chinese")


class Channel(Member):
    """A traffic channel; ``paid: true`` for a channel the shop buys (ad spend, paid sessions)."""

    paid: Flag = Field(False, description="a channel the shop pays for (ad spend reports name it)")


class Carrier(Member):
    """A carrier (快递公司)."""


class PaymentMethod(Member):
    """A payment method; ``cod: true`` for cash on delivery (货到付款)."""

    cod: Flag = Field(False, description="cash on delivery: its orders are reviewed first")


class Topic(Member):
    """A conversation topic and its role (presale inquiries are what the inquiry KPIs count)."""

    role: Literal[TOPIC_ROLES] | None = Field(  # type: ignore[valid-type]
        None, description="presale, aftersale or order_review; none: counted in no role"
    )


M = TypeVar("M", bound=Member)


class MemberList(ConfigModel, Generic[M]):
    """One list of the vocabulary: its members, and what an unknown value becomes."""

    members: Annotated[dict[MemberId, Annotated[M, blank({}, dict)]], Field(min_length=1)]
    unknown: Literal[UNKNOWN] = Field(  # type: ignore[valid-type]
        "quarantine",
        description="quarantine: a row with another value is quarantined; map: the value "
        "becomes map_to",
    )
    map_to: MemberId | None = Field(None, description="with unknown: map, the member it becomes")

    @model_validator(mode="after")
    def _map_to_a_member(self) -> MemberList:
        if self.unknown == "map" and self.map_to is None:
            raise problem("map_to", "is required with unknown: map: name the member to map to")
        if self.unknown != "map" and self.map_to is not None:
            raise problem("unknown", "must be map when map_to is set (or remove map_to)")
        if self.map_to is not None and self.map_to not in self.members:
            raise problem(
                "map_to",
                f"must be one of the members ({', '.join(self.members)}), not {self.map_to!r}",
            )
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.members)

    def label(self, member: str, lang: str) -> str:
        m = self.members.get(member)
        if m is None:
            return member
        first, second = (m.zh, m.en) if lang == "zh" else (m.en, m.zh)
        return first or second or member


def _members(cls: type[M], **members: dict[str, Any]) -> dict[str, M]:
    return {name: cls(**fields) for name, fields in members.items()}


#: dimension of the tree (tree.yaml) -> the list of the vocabulary its members come from
DIMENSION_LISTS = {
    "channel": "channels",
    "carrier": "carriers",
    "payment_method": "payment_methods",
    "topic": "topics",
}


class Vocabulary(ConfigModel):
    """``vocabulary:`` in kpi.yaml. A list given replaces that list's default members."""

    channels: Annotated[MemberList[Channel], blank({}, MemberList[Channel])] = MemberList[Channel](
        members=_members(
            Channel,
            paid_search={"en": "paid search", "zh": "付费搜索", "paid": True},
            feed_ads={"en": "feed ads", "zh": "信息流广告", "paid": True},
            social={"en": "social", "zh": "社交媒体", "paid": True},
            organic={"en": "organic", "zh": "自然流量"},
            direct={"en": "direct", "zh": "直接访问"},
        )
    )
    carriers: Annotated[MemberList[Carrier], blank({}, MemberList[Carrier])] = MemberList[Carrier](
        members=_members(
            Carrier,
            sf_express={"en": "SF Express", "zh": "顺丰速运"},
            zto={"en": "ZTO Express", "zh": "中通快递"},
            yto={"en": "YTO Express", "zh": "圆通速递"},
            jd_logistics={"en": "JD Logistics", "zh": "京东物流"},
            ems={"en": "EMS", "zh": "中国邮政 EMS"},
        )
    )
    payment_methods: Annotated[MemberList[PaymentMethod], blank({}, MemberList[PaymentMethod])] = (
        MemberList[PaymentMethod](
            members=_members(
                PaymentMethod,
                prepaid={"en": "prepaid", "zh": "在线支付"},
                cod={"en": "cash on delivery", "zh": "货到付款", "cod": True},
            )
        )
    )
    topics: Annotated[MemberList[Topic], blank({}, MemberList[Topic])] = MemberList[Topic](
        members=_members(
            Topic,
            presale={"en": "presale", "zh": "售前咨询", "role": "presale"},
            aftersale={"en": "after-sale", "zh": "售后", "role": "aftersale"},
            order_review={"en": "order review", "zh": "订单审核", "role": "order_review"},
        )
    )

    # ---- the lists as the code uses them ------------------------------------------------

    @property
    def paid_channels(self) -> tuple[str, ...]:
        return tuple(n for n, m in self.channels.members.items() if m.paid)

    @property
    def cod_payment_methods(self) -> tuple[str, ...]:
        return tuple(n for n, m in self.payment_methods.members.items() if m.cod)

    def topics_in_role(self, role: str) -> tuple[str, ...]:
        return tuple(n for n, m in self.topics.members.items() if m.role == role)

    def members(self, name: str) -> tuple[str, ...]:
        """The members of the list ``name``: a list of the vocabulary, or ``paid_channels``."""
        if name == "paid_channels":
            return self.paid_channels
        return self._list(name).names

    def _list(self, name: str) -> MemberList:
        return getattr(self, "channels" if name == "paid_channels" else name)

    def label(self, dimension: str, member: str, lang: str) -> str:
        """``member`` of the tree's ``dimension`` in ``lang`` (en or zh); a dimension without
        a list (campaign, agent) or a member not in it is shown as it is."""
        name = DIMENSION_LISTS.get(dimension)
        return member if name is None else self._list(name).label(member, lang)

    def labels(self) -> dict[str, dict[str, dict[str, str]]]:
        """dimension -> member -> {en, zh}: what the board shows for a member."""
        return {
            dimension: {m: {lang: self.label(dimension, m, lang) for lang in LANGUAGES} for m in
                        self._list(name).names}
            for dimension, name in DIMENSION_LISTS.items()
        }  # fmt: skip

    def column_members(self, columns: Mapping[str, str]) -> tuple[ColumnMembers, ...]:
        """The rules of a source's member columns, ``columns``: column -> list name."""
        out = []
        for column, name in columns.items():
            source = self._list(name)
            out.append(
                ColumnMembers(
                    column=column,
                    vocabulary=name,
                    allowed=self.members(name),
                    map_to=source.map_to if source.unknown == "map" else None,
                    known=source.names,
                )
            )
        return tuple(out)

    def dbt_vars(self) -> dict[str, Any]:
        """The lists and roles as the dbt var ``kpi_vocabulary`` (macros/kpi/vocabulary.sql)."""
        return {
            "channels": list(self.channels.names),
            "paid_channels": list(self.paid_channels),
            "carriers": list(self.carriers.names),
            "payment_methods": list(self.payment_methods.names),
            "cod_payment_methods": list(self.cod_payment_methods),
            "topics": list(self.topics.names),
            "topic_roles": {role: list(self.topics_in_role(role)) for role in TOPIC_ROLES},
        }


@dataclass(frozen=True)
class ColumnMembers:
    """The values a source's column may take: ``allowed`` (the list ``vocabulary``); a value
    that is not a member of the list at all (``known``: for the paid channels, every channel)
    becomes ``map_to``, or (None) its row is quarantined, as is a known value not allowed (an
    ad spend report naming an organic channel)."""

    column: str
    vocabulary: str
    allowed: tuple[str, ...]
    map_to: str | None = None
    known: tuple[str, ...] = ()


#: the sample shop's vocabulary, the default of every shop
DEFAULT_VOCABULARY = Vocabulary()
