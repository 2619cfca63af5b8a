"""The six sources: a pandera contract each, and one :class:`SourceSpec` per source that holds
everything the warehouse knows about it (documented in ``docs/sources.md``).

Each model validates a *typed*, collected ``pl.DataFrame`` (``lazy=True``): the reader has
already parsed text into these dtypes and quarantined the values it could not parse, so the
rules here are about values, not types. Row rules that involve several columns are
``dataframe_check``s returning one boolean per row, so every failure carries a row index; the
column each one is reported under is in :data:`RULE_COLUMNS`.

The members of channels, payment methods, carriers and topics are the shop's (its vocabulary,
``kpi_tree/vocabulary.py``): the models below take the default vocabulary's, and
:meth:`SourceSpec.contract_for` gives a source's contract with the shop's own
(:attr:`SourceSpec.members` names the list each such column takes), one class per list of
members, made once.

Keys are checked "first one wins": the first row with a key is kept and every later copy is
quarantined (pandera's own ``unique=True`` would flag the first copy too). A contract names
its key in ``_key`` (private: pandera takes a public class attribute for a column), which its
key rule checks and its :class:`SourceSpec` reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property

import pandera.polars as pa
import polars as pl

from kpi_tree.vocabulary import DEFAULT_VOCABULARY, ColumnMembers
from pipelines.i18n import N_

#: the statuses the models give a meaning to (signed, refused, returned): not the shop's to set
SHIPMENT_STATUSES = ["shipped", "signed", "refused", "returned"]


def _default(vocabulary: str) -> list[str]:
    return list(DEFAULT_VOCABULARY.members(vocabulary))


Timestamp = pl.Datetime("us")  # naive, UTC by convention once ingested

#: dataframe check name -> (column it is reported under, rule in words)
RULE_COLUMNS: dict[str, tuple[str, str]] = {}


def _first_of_key(data: pa.PolarsData, *columns: str) -> pl.LazyFrame:
    return data.lazyframe.select(pl.struct(list(columns)).is_first_distinct())


def _ge_or_null(later: str, earlier: str) -> pl.Expr:
    return pl.col(later).is_null() | pl.col(earlier).is_null() | (pl.col(later) >= pl.col(earlier))


def rule(column: str, text: str):
    """Register a dataframe check's reporting column and wording."""

    def wrap(fn):
        RULE_COLUMNS[fn.__name__] = (column, text)
        return pa.dataframe_check(fn)

    return wrap


class Orders(pa.DataFrameModel):
    _key = ("order_id",)

    order_id: str = pa.Field(str_length={"min_value": 1})
    customer_id: str = pa.Field(str_length={"min_value": 1})
    created_at: Timestamp
    channel: str = pa.Field(isin=_default("channels"))
    campaign: str = pa.Field(nullable=True)
    payment_method: str = pa.Field(isin=_default("payment_methods"))
    amount: float = pa.Field(ge=0)
    reviewed_at: Timestamp = pa.Field(nullable=True)

    @rule("order_id", N_("order_id is unique"))
    @classmethod
    def orders_key_unique(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _first_of_key(data, *cls._key)

    @rule("reviewed_at", N_("reviewed_at >= created_at"))
    @classmethod
    def orders_reviewed_after_created(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ge_or_null("reviewed_at", "created_at"))


class OrderItems(pa.DataFrameModel):
    _key = ("order_id", "line_no")

    order_id: str = pa.Field(str_length={"min_value": 1})
    line_no: int = pa.Field(ge=1)
    product_id: str = pa.Field(str_length={"min_value": 1})
    category: str = pa.Field(str_length={"min_value": 1})
    quantity: int = pa.Field(ge=1)
    unit_price: float = pa.Field(ge=0)
    line_amount: float = pa.Field(ge=0)

    @rule("line_no", N_("(order_id, line_no) is unique"))
    @classmethod
    def order_items_key_unique(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _first_of_key(data, *cls._key)

    @rule("line_amount", N_("line_amount = quantity x unit_price (within 0.01)"))
    @classmethod
    def order_items_amount_matches(cls, data: pa.PolarsData) -> pl.LazyFrame:
        diff = (pl.col("line_amount") - pl.col("quantity") * pl.col("unit_price")).abs()
        return data.lazyframe.select(diff <= 0.01 + 1e-9)


class Sessions(pa.DataFrameModel):
    _key = ("hour_start", "channel", "campaign", "landing_page")

    hour_start: Timestamp
    channel: str = pa.Field(isin=_default("channels"))
    campaign: str = pa.Field(nullable=True)
    landing_page: str = pa.Field(str_length={"min_value": 1})
    sessions: int = pa.Field(ge=0)
    product_detail_sessions: int = pa.Field(ge=0)
    product_views: int = pa.Field(ge=0)
    bounces: int = pa.Field(ge=0)

    @rule("hour_start", N_("(hour_start, channel, campaign, landing_page) is unique"))
    @classmethod
    def sessions_key_unique(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _first_of_key(data, *cls._key)

    @rule("product_detail_sessions", N_("product_detail_sessions <= sessions"))
    @classmethod
    def sessions_detail_le_sessions(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("product_detail_sessions") <= pl.col("sessions"))

    @rule("product_views", N_("product_views >= product_detail_sessions"))
    @classmethod
    def sessions_views_ge_detail(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("product_views") >= pl.col("product_detail_sessions"))

    @rule("bounces", N_("bounces <= sessions"))
    @classmethod
    def sessions_bounces_le_sessions(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("bounces") <= pl.col("sessions"))


class AdSpend(pa.DataFrameModel):
    _key = ("date", "channel", "campaign")

    date: pl.Date
    channel: str = pa.Field(isin=_default("paid_channels"))
    campaign: str = pa.Field(str_length={"min_value": 1})
    impressions: int = pa.Field(ge=0)
    clicks: int = pa.Field(ge=0)
    spend: float = pa.Field(ge=0)

    @rule("campaign", N_("(date, channel, campaign) is unique"))
    @classmethod
    def ad_spend_key_unique(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _first_of_key(data, *cls._key)

    @rule("clicks", N_("clicks <= impressions"))
    @classmethod
    def ad_spend_clicks_le_impressions(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("clicks") <= pl.col("impressions"))


class Conversations(pa.DataFrameModel):
    _key = ("conversation_id",)

    conversation_id: str = pa.Field(str_length={"min_value": 1})
    customer_id: str = pa.Field(str_length={"min_value": 1})
    agent_id: str = pa.Field(str_length={"min_value": 1})
    topic: str = pa.Field(isin=_default("topics"))
    started_at: Timestamp
    first_response_at: Timestamp = pa.Field(nullable=True)
    ended_at: Timestamp
    messages: int = pa.Field(ge=1)
    order_id: str = pa.Field(nullable=True)
    satisfaction: int = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 5})

    @rule("conversation_id", N_("conversation_id is unique"))
    @classmethod
    def conversations_key_unique(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _first_of_key(data, *cls._key)

    @rule("first_response_at", N_("first_response_at >= started_at"))
    @classmethod
    def conversations_response_after_start(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ge_or_null("first_response_at", "started_at"))

    @rule("ended_at", N_("ended_at >= started_at and >= first_response_at"))
    @classmethod
    def conversations_end_after_start(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            _ge_or_null("ended_at", "started_at") & _ge_or_null("ended_at", "first_response_at")
        )


class Shipments(pa.DataFrameModel):
    _key = ("shipment_id", "updated_at")

    shipment_id: str = pa.Field(str_length={"min_value": 1})
    order_id: str = pa.Field(str_length={"min_value": 1})
    carrier: str = pa.Field(isin=_default("carriers"))
    payment_method: str = pa.Field(isin=_default("payment_methods"))
    status: str = pa.Field(isin=SHIPMENT_STATUSES)
    shipped_at: Timestamp
    delivered_at: Timestamp = pa.Field(nullable=True)
    returned_at: Timestamp = pa.Field(nullable=True)
    refund_amount: float = pa.Field(ge=0)
    updated_at: Timestamp

    @rule("updated_at", N_("(shipment_id, updated_at) is unique"))
    @classmethod
    def shipments_key_unique(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return _first_of_key(data, *cls._key)

    @rule("delivered_at", N_("delivered_at is set exactly when status is signed/refused/returned"))
    @classmethod
    def shipments_delivered_matches_status(cls, data: pa.PolarsData) -> pl.LazyFrame:
        delivered = pl.col("status").is_in(["signed", "refused", "returned"])
        return data.lazyframe.select(
            pl.col("status").is_null() | (pl.col("delivered_at").is_not_null() == delivered)
        )

    @rule("returned_at", N_("returned_at is set exactly when status is returned"))
    @classmethod
    def shipments_returned_matches_status(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("status").is_null()
            | (pl.col("returned_at").is_not_null() == (pl.col("status") == "returned"))
        )

    @rule("delivered_at", N_("delivered_at >= shipped_at"))
    @classmethod
    def shipments_delivered_after_shipped(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ge_or_null("delivered_at", "shipped_at"))

    @rule("returned_at", N_("returned_at >= delivered_at"))
    @classmethod
    def shipments_returned_after_delivered(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ge_or_null("returned_at", "delivered_at"))

    @rule("updated_at", N_("updated_at >= shipped_at"))
    @classmethod
    def shipments_updated_after_shipped(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(_ge_or_null("updated_at", "shipped_at"))


@dataclass(frozen=True)
class SourceSpec:
    """One source: its name, its contract and the column that dates its rows.

    No source has a zone of its own: a timestamp written without an offset is read in the
    zone ``kpi.yaml`` declares for the source (``sources.<name>.timezone``), else in the
    business zone, and the run says so (docs/sources.md, "Dates and time zones")."""

    name: str
    contract: type[pa.DataFrameModel]
    #: the column that gives a row its business date; None: its rows have none of their own
    #: (an order's items are dated by their order)
    business_date: str | None
    #: for a source without dates of its own: the source whose rows date its rows, and the
    #: column they share (an order line falls on its order's business date)
    dated_by: tuple[str, str] | None = None
    #: column -> the list of the shop's vocabulary its values are members of
    #: (kpi_tree.vocabulary: channels, paid_channels, carriers, payment_methods, topics)
    members: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, ...]:
        """The columns that identify a row: a later row with the same key is quarantined."""
        return self.contract._key

    @cached_property
    def dtypes(self) -> dict[str, pl.DataType]:
        """The contract's columns and their types, in the contract's order."""
        schema = self.contract.to_schema()
        return {name: col.dtype.type for name, col in schema.columns.items()}

    @property
    def timestamp_columns(self) -> list[str]:
        return [name for name, dtype in self.dtypes.items() if dtype == Timestamp]

    def contract_for(self, members: tuple[ColumnMembers, ...]) -> type[pa.DataFrameModel]:
        """The contract with the shop's ``members`` (from its settings, ``SourceConfig``):
        :attr:`contract` itself when they are its own (or none are given)."""
        allowed = tuple((m.column, m.allowed) for m in members)
        return _with_members(self.contract, allowed)


@cache
def _with_members(
    model: type[pa.DataFrameModel], allowed: tuple[tuple[str, tuple[str, ...]], ...]
) -> type[pa.DataFrameModel]:
    """``model`` with each of its member columns checked against the shop's own list, as a
    subclass (its rules and key are the model's). Made once per list of members: the contract
    is a class, as pandera's models are, not a global a process changes."""
    columns = model.to_schema().columns
    changed = {
        column: values
        for column, values in allowed
        if [check.statistics.get("allowed_values") for check in columns[column].checks]
        != [list(values)]
    }
    if not changed:
        return model
    body = {
        "__module__": model.__module__,
        "__doc__": model.__doc__,
        "__annotations__": dict.fromkeys(changed, str),
        **{column: pa.Field(isin=list(values)) for column, values in changed.items()},
    }
    return type(model.__name__, (model,), body)


#: source name -> its spec, in the order the sources are loaded and shown
SOURCE_SPECS: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "orders",
            Orders,
            business_date="created_at",
            members={"channel": "channels", "payment_method": "payment_methods"},
        ),
        SourceSpec("order_items", OrderItems, business_date=None, dated_by=("orders", "order_id")),
        SourceSpec(
            "sessions", Sessions, business_date="hour_start", members={"channel": "channels"}
        ),
        SourceSpec("ad_spend", AdSpend, business_date="date", members={"channel": "paid_channels"}),
        SourceSpec(
            "conversations", Conversations, business_date="started_at", members={"topic": "topics"}
        ),
        SourceSpec(
            "shipments",
            Shipments,
            business_date="updated_at",
            members={"carrier": "carriers", "payment_method": "payment_methods"},
        ),
    )
}

SOURCES = list(SOURCE_SPECS)
