"""From the model's frames to the contract's columns, and from those to bytes on disk.

A *contract frame* has exactly the columns of ``docs/sources.md`` in order, with timestamps
as epoch seconds (Int64), money in fen (Int64) and ``ad_spend.date`` as a date ordinal, so
faults can be injected on exact values; :func:`serialize` renders it per format:

- CSV: UTC timestamps as ``2025-03-14T23:30:00Z``, conversations as Shanghai local time
  without offset ``2025-03-15 07:30:00``, money with two decimals ``129.90``, dates
  ``2025-03-14``, nulls as empty cells.
- Parquet: UTC timestamps as ``Datetime(us, UTC)``, conversations as naive local
  ``Datetime(us)``, money as ``Float64`` yuan, ``date`` as ``Date``.
- JSON Lines: timestamps and dates as the CSV text, money as JSON numbers, nulls as ``null``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import polars as pl

from kpi_tree.vocabulary import DEFAULT_VOCABULARY
from sample_shop.model import (
    AGENT_IDS,
    CARRIERS,
    CATALOGUE,
    CATEGORIES,
    EPOCH_ORDINAL,
    LANDING_PAGES,
    SOURCE_CAMPAIGN_NAMES,
    SOURCE_CHANNEL_NAMES,
    SRC,
    STATUSES,
    TOPIC_LETTER,
    TOPICS,
    UTC_OFFSET,
    DayCounts,
    DayOrders,
)

SOURCES = ("orders", "order_items", "sessions", "ad_spend", "conversations", "shipments")
FORMATS = ("csv", "parquet", "jsonl")
MIXED_FORMATS = {
    "orders": "csv",
    "order_items": "csv",
    "sessions": "parquet",
    "ad_spend": "csv",
    "conversations": "jsonl",
    "shipments": "csv",
}

# column kinds: str, int, ts (epoch seconds), money (fen), date (ordinal)
SCHEMAS: dict[str, dict[str, str]] = {
    "orders": {
        "order_id": "str", "customer_id": "str", "created_at": "ts", "channel": "str",
        "campaign": "str", "payment_method": "str", "amount": "money", "reviewed_at": "ts",
    },
    "order_items": {
        "order_id": "str", "line_no": "int", "product_id": "str", "category": "str",
        "quantity": "int", "unit_price": "money", "line_amount": "money",
    },
    "sessions": {
        "hour_start": "ts", "channel": "str", "campaign": "str", "landing_page": "str",
        "sessions": "int", "product_detail_sessions": "int", "product_views": "int",
        "bounces": "int",
    },
    "ad_spend": {
        "date": "date", "channel": "str", "campaign": "str", "impressions": "int",
        "clicks": "int", "spend": "money",
    },
    "conversations": {
        "conversation_id": "str", "customer_id": "str", "agent_id": "str", "topic": "str",
        "started_at": "ts", "first_response_at": "ts", "ended_at": "ts", "messages": "int",
        "order_id": "str", "satisfaction": "int",
    },
    "shipments": {
        "shipment_id": "str", "order_id": "str", "carrier": "str", "payment_method": "str",
        "status": "str", "shipped_at": "ts", "delivered_at": "ts", "returned_at": "ts",
        "refund_amount": "money", "updated_at": "ts",
    },
}  # fmt: skip
#: sources whose timestamps are local (Asia/Shanghai, no offset); the others are UTC
LOCAL_TIME_SOURCES = {"conversations"}
UTC_TEXT = "%Y-%m-%dT%H:%M:%SZ"
LOCAL_TEXT = "%Y-%m-%d %H:%M:%S"
_COD = DEFAULT_VOCABULARY.cod_payment_methods
#: the default vocabulary's payment methods by the generator's `cod` flag: 0 prepaid, 1 COD
PAYMENT_METHODS = (
    next(m for m in DEFAULT_VOCABULARY.payment_methods.names if m not in _COD),
    _COD[0],
)


def polars_dtype(kind: str) -> pl.DataType:
    return pl.String() if kind == "str" else pl.Int64()


def empty_contract(source: str) -> pl.DataFrame:
    return pl.DataFrame(schema={c: polars_dtype(k) for c, k in SCHEMAS[source].items()})


def yyyymmdd(ordinal: int) -> str:
    return date.fromordinal(ordinal).strftime("%Y%m%d")


def _number(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.zfill(6)


def _id(df: pl.DataFrame, prefix: str, day: str | int, number: str) -> pl.Expr:
    """``o20250314-000123``-style ids: prefix, day of origin, a 1-based number. ``day`` is a
    date ordinal or the column holding one (a null day gives a null id)."""
    if isinstance(day, int):
        head = pl.lit(f"{prefix}{yyyymmdd(day)}-")
    else:
        days = [int(d) for d in df[day].drop_nulls().unique().sort()]
        heads = [f"{prefix}{yyyymmdd(d)}-" for d in days]
        head = pl.col(day).replace_strict(days, heads, default=None, return_dtype=pl.String)
    return pl.concat_str([head, _number(number)])


def _lookup(expr: pl.Expr, names: list[str | None] | tuple[str, ...]) -> pl.Expr:
    return expr.replace_strict(list(range(len(names))), list(names), return_dtype=pl.String)


def day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def orders_frame(o: DayOrders) -> pl.DataFrame:
    raw = pl.DataFrame(
        {
            "idx": range(1, o.n + 1),
            "cust_day": o.cust_day,
            "cust_j": o.cust_j,
            "created": o.created,
            "source": o.source,
            "cod": o.cod.astype("int64"),
            "amount": o.amount,
            "reviewed": o.reviewed,
        },
        schema={
            k: pl.Int64
            for k in ("idx", "cust_day", "cust_j", "created", "source", "cod", "amount", "reviewed")
        },
    )
    return raw.select(
        _id(raw, "o", o.ordinal, "idx").alias("order_id"),
        _id(raw, "c", "cust_day", "cust_j").alias("customer_id"),
        pl.col("created").alias("created_at"),
        _lookup(pl.col("source"), SOURCE_CHANNEL_NAMES).alias("channel"),
        _lookup(pl.col("source"), SOURCE_CAMPAIGN_NAMES).alias("campaign"),
        _lookup(pl.col("cod"), PAYMENT_METHODS).alias("payment_method"),
        pl.col("amount"),
        pl.col("reviewed").alias("reviewed_at"),
    )


def order_items_frame(o: DayOrders) -> pl.DataFrame:
    product_names = list(CATALOGUE["product_id"])
    category_names = [CATEGORIES[c] for c in CATALOGUE["category"]]
    raw = pl.DataFrame(
        {
            "order": o.item_order + 1,
            "line_no": o.line_no,
            "product": o.product,
            "quantity": o.quantity,
            "unit_price": o.unit_price,
            "line_amount": o.line_amount,
        },
        schema={
            k: pl.Int64
            for k in ("order", "line_no", "product", "quantity", "unit_price", "line_amount")
        },
    )
    return raw.select(
        _id(raw, "o", o.ordinal, "order").alias("order_id"),
        pl.col("line_no"),
        _lookup(pl.col("product"), product_names).alias("product_id"),
        _lookup(pl.col("product"), category_names).alias("category"),
        pl.col("quantity"),
        pl.col("unit_price"),
        pl.col("line_amount"),
    )


def sessions_frame(sessions: pl.DataFrame) -> pl.DataFrame:
    return sessions.sort("hour_start", "source", "page").select(
        pl.col("hour_start"),
        _lookup(pl.col("source"), SOURCE_CHANNEL_NAMES).alias("channel"),
        _lookup(pl.col("source"), SOURCE_CAMPAIGN_NAMES).alias("campaign"),
        _lookup(pl.col("page"), LANDING_PAGES).alias("landing_page"),
        "sessions",
        "product_detail_sessions",
        "product_views",
        "bounces",
    )


def ad_spend_frame(ordinal: int, c: DayCounts) -> pl.DataFrame:
    paid = SRC["paid"]
    return pl.DataFrame(
        {
            "date": [ordinal] * int(paid.sum()),
            "channel": [n for n, p in zip(SOURCE_CHANNEL_NAMES, paid, strict=True) if p],
            "campaign": [n for n, p in zip(SOURCE_CAMPAIGN_NAMES, paid, strict=True) if p],
            "impressions": c.impressions[paid],
            "clicks": c.clicks[paid],
            "spend": c.spend[paid],
        },
        schema={c: polars_dtype(k) for c, k in SCHEMAS["ad_spend"].items()},
    )


def conversations_frame(events: pl.DataFrame) -> pl.DataFrame:
    if events.height == 0:
        return empty_contract("conversations")
    events = events.sort("started", "origin", "topic", "seq")
    days = [int(d) for d in events["origin"].unique().sort()]
    heads = [f"cv{yyyymmdd(d)}-" for d in days]
    conversation_id = pl.concat_str(
        [
            pl.col("origin").replace_strict(days, heads, return_dtype=pl.String),
            _lookup(pl.col("topic"), TOPIC_LETTER),
            _number("seq"),
        ]
    )
    return events.select(
        conversation_id.alias("conversation_id"),
        _id(events, "c", "cust_day", "cust_j").alias("customer_id"),
        _lookup(pl.col("agent"), AGENT_IDS).alias("agent_id"),
        _lookup(pl.col("topic"), TOPICS).alias("topic"),
        pl.col("started").alias("started_at"),
        pl.col("first_response").alias("first_response_at"),
        pl.col("ended").alias("ended_at"),
        pl.col("messages"),
        _id(events, "o", "order_day", "order_idx").alias("order_id"),
        pl.col("satisfaction"),
    )


def shipments_frame(events: pl.DataFrame) -> pl.DataFrame:
    if events.height == 0:
        return empty_contract("shipments")
    events = events.sort("updated", "origin", "idx", "status")
    return events.select(
        _id(events, "s", "origin", "idx").alias("shipment_id"),
        _id(events, "o", "origin", "idx").alias("order_id"),
        _lookup(pl.col("carrier"), CARRIERS).alias("carrier"),
        _lookup(pl.col("cod"), PAYMENT_METHODS).alias("payment_method"),
        _lookup(pl.col("status"), STATUSES).alias("status"),
        pl.col("shipped").alias("shipped_at"),
        pl.col("delivered").alias("delivered_at"),
        pl.col("returned").alias("returned_at"),
        pl.col("refund").alias("refund_amount"),
        pl.col("updated").alias("updated_at"),
    )


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------


def _money_text(col: pl.Expr) -> pl.Expr:
    a = col.abs()
    sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(
        [sign, (a // 100).cast(pl.String), pl.lit("."), (a % 100).cast(pl.String).str.zfill(2)]
    )


def _ts_text(col: pl.Expr, local: bool) -> pl.Expr:
    if local:
        return pl.from_epoch(col + UTC_OFFSET, time_unit="s").dt.strftime(LOCAL_TEXT)
    return pl.from_epoch(col, time_unit="s").dt.strftime(UTC_TEXT)


def _date(col: pl.Expr) -> pl.Expr:
    return (col - EPOCH_ORDINAL).cast(pl.Int32).cast(pl.Date)


def money_text(fen: int) -> str:
    return pl.select(_money_text(pl.lit(fen, dtype=pl.Int64))).item()


def render_value(source: str, column: str, value: object) -> object:
    """A contract-frame value as it appears in the file (for the manifest)."""
    if value is None:
        return None
    kind = SCHEMAS[source].get(column)
    if kind == "money":
        return money_text(int(value))
    if kind == "ts":
        expr = _ts_text(pl.lit(int(value), dtype=pl.Int64), source in LOCAL_TIME_SOURCES)
        return pl.select(expr).item()
    if kind == "date":
        return day_text(int(value))
    return value


def _native_frame(df: pl.DataFrame, source: str, text_times: bool) -> pl.DataFrame:
    """Typed columns for the writers: money as Float64 yuan, dates as Date, timestamps as
    Datetime (UTC-aware, or naive local time) or, with ``text_times``, UTC as ``...Z`` text.
    Columns already turned into text (faults) are left alone."""
    local = source in LOCAL_TIME_SOURCES
    exprs = []
    for name in df.columns:
        kind = SCHEMAS[source].get(name, "str") if df.schema[name] == pl.Int64 else "str"
        col = pl.col(name)
        if kind == "money":
            # round: polars may divide by multiplying with 0.01 (6255 -> 62.550000000000004)
            exprs.append((col / 100).round(2).alias(name))
        elif kind == "ts" and local:
            exprs.append(pl.from_epoch(col + UTC_OFFSET, time_unit="s").alias(name))
        elif kind == "ts" and text_times:
            exprs.append(_ts_text(col, local=False).alias(name))
        elif kind == "ts":
            exprs.append(pl.from_epoch(col, time_unit="s").dt.replace_time_zone("UTC").alias(name))
        elif kind == "date":
            exprs.append(_date(col).alias(name))
        else:
            exprs.append(col)
    return df.select(exprs)


def _as_text(df: pl.DataFrame, source: str, column: str) -> pl.Expr:
    """One contract column as the text CSV would hold."""
    kind = SCHEMAS[source].get(column, "str") if df.schema[column] == pl.Int64 else "str"
    col = pl.col(column)
    if kind == "money":
        return _money_text(col)
    if kind == "ts":
        return _ts_text(col, source in LOCAL_TIME_SOURCES)
    if kind == "date":
        return _date(col).dt.strftime("%Y-%m-%d")
    return col.cast(pl.String)


def retype(df: pl.DataFrame, source: str, column: str) -> pl.DataFrame:
    """A numeric column rewritten as text that is not a number (a schema fault)."""
    col = pl.col(column)
    if SCHEMAS[source][column] == "money":
        text = pl.concat_str([pl.lit("¥"), _money_text(col)])
    else:
        text = pl.concat_str([col.cast(pl.String), pl.lit(" (est.)")])
    return df.with_columns(text.alias(column))


def write(
    df: pl.DataFrame,
    source: str,
    fmt: str,
    path: Path,
    text_overrides: Mapping[tuple[int, str], str] | None = None,
) -> None:
    """Write a contract frame to ``path``. ``text_overrides``: (0-based row, column) -> raw
    text to write in place of the value (CSV and JSON Lines only)."""
    overrides = dict(text_overrides or {})
    local = source in LOCAL_TIME_SOURCES
    if fmt == "csv":
        for column in {c for _, c in overrides}:
            rows = [r for r, c in overrides if c == column]
            texts = [overrides[(r, column)] for r in rows]
            text = _as_text(df, source, column)
            for row, value in zip(rows, texts, strict=True):
                text = pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(text)
            df = df.with_columns(text.alias(column))
        _native_frame(df, source, text_times=False).write_csv(
            path,
            datetime_format=LOCAL_TEXT if local else UTC_TEXT,
            date_format="%Y-%m-%d",
            float_precision=2,
        )
    elif fmt == "parquet":
        if overrides:
            raise ValueError("text overrides cannot be written to Parquet")
        _native_frame(df, source, text_times=False).write_parquet(
            path, compression="zstd", statistics=True
        )
    elif fmt == "jsonl":
        native = _native_frame(df, source, text_times=True)
        date_cols = [c for c, t in native.schema.items() if t == pl.Date]
        native = native.with_columns(pl.col(c).dt.strftime("%Y-%m-%d") for c in date_cols)
        if not overrides:
            native.write_ndjson(path)
            return
        buf = io.BytesIO()
        native.write_ndjson(buf)
        lines = buf.getvalue().split(b"\n")
        for (row, column), value in overrides.items():
            obj = json.loads(lines[row])
            obj[column] = value
            lines[row] = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        path.write_bytes(b"\n".join(lines))
    else:
        raise ValueError(f"unknown format {fmt!r} (expected one of {FORMATS})")
