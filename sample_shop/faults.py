"""Faults the sample shop can inject, where they go, and how a row is broken.

Row faults break exactly one contract rule on exactly one row (a duplicated key: on the
appended copy only), so the quarantine of a file counts exactly the rows injected into it.
They are spread over sources and days deterministically: each fault kind cycles through its
targets (source, column) below, and each goes to the least-faulted file of its source (ties
broken by a seeded shuffle of the days), so a demo's files hold at most one or two bad rows.
File faults act on whole files; schema faults (tests only) make a file unloadable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from sample_shop.model import DAY, HOUR
from sample_shop.output import SOURCES, money_text, render_value

ROW_FAULTS = (
    "missing_value",
    "bad_type",
    "negative_amount",
    "unknown_category",
    "duplicate_key",
    "clicks_over_impressions",
    "time_travel",
    "out_of_range",
    "amount_mismatch",
)
FILE_FAULTS = ("duplicate_file", "missing_day", "late_updates")
SCHEMA_FAULTS = ("missing_column", "retyped_column")

FAULT_KINDS: dict[str, str] = {
    "missing_value": "a required value left empty (orders.customer_id, shipments.carrier, "
    "order_items.product_id, conversations.agent_id, ad_spend.campaign, sessions.landing_page)",
    "bad_type": "an unparseable value in a numeric or timestamp column, CSV/JSONL files only "
    "(orders.amount '129,90x', conversations.messages 'three', shipments.shipped_at "
    "'yesterday', order_items.quantity 'two', ad_spend.impressions '12.3k')",
    "negative_amount": "a negative amount (orders.amount, shipments.refund_amount, ad_spend.spend)",
    "unknown_category": "a value outside an enumeration (orders.channel 'tv', shipments.carrier "
    "'pigeon', conversations.topic 'complaint', sessions.channel 'tv', ad_spend.channel 'tv', "
    "orders.payment_method 'crypto')",
    "duplicate_key": "an exact copy of a row appended to its file (the copy is the bad row)",
    "clicks_over_impressions": "an ad_spend row with clicks > impressions",
    "time_travel": "conversations.first_response_at before started_at, or "
    "shipments.delivered_at before shipped_at",
    "out_of_range": "conversations.satisfaction 7, or order_items.quantity 0 (line_amount 0)",
    "amount_mismatch": "order_items.line_amount != quantity x unit_price (10.00 too much)",
    "duplicate_file": "a day's file delivered again, byte for byte, as "
    "<source>_<next day>_resend.<ext> (picked up with the next day)",
    "missing_day": "a day without any file for one source (sessions, then ad_spend, ...)",
    "late_updates": "shipment updates delivered 2-5 days after their updated_at day, at the end "
    "of that later day's file (updated_at unchanged)",
    "missing_column": "schema fault (tests): a required column dropped from one file",
    "retyped_column": "schema fault (tests): a numeric column written as non-numeric text in "
    "one file (Parquet when a source is Parquet)",
}

DEFAULT_FAULTS: dict[str, int] = {
    **{kind: 3 for kind in ROW_FAULTS},
    "duplicate_file": 1,
    "missing_day": 1,
    "late_updates": 20,
}


@dataclass(frozen=True)
class Target:
    source: str
    column: str
    rule: str


ROW_TARGETS: dict[str, list[Target]] = {
    "missing_value": [
        Target("orders", "customer_id", "customer_id is required"),
        Target("shipments", "carrier", "carrier is required"),
        Target("order_items", "product_id", "product_id is required"),
        Target("conversations", "agent_id", "agent_id is required"),
        Target("ad_spend", "campaign", "campaign is required"),
        Target("sessions", "landing_page", "landing_page is required"),
    ],
    "bad_type": [
        Target("orders", "amount", "amount is a decimal"),
        Target("conversations", "messages", "messages is an integer"),
        Target("shipments", "shipped_at", "shipped_at is a timestamp"),
        Target("order_items", "quantity", "quantity is an integer"),
        Target("ad_spend", "impressions", "impressions is an integer"),
        Target("sessions", "sessions", "sessions is an integer"),
    ],
    "negative_amount": [
        Target("orders", "amount", "amount >= 0"),
        Target("shipments", "refund_amount", "refund_amount >= 0"),
        Target("ad_spend", "spend", "spend >= 0"),
    ],
    "unknown_category": [
        Target("orders", "channel", "channel is a channel"),
        Target("shipments", "carrier", "carrier is a carrier"),
        Target("conversations", "topic", "topic is a conversation topic"),
        Target("sessions", "channel", "channel is a channel"),
        Target("ad_spend", "channel", "channel is a paid channel"),
        Target("orders", "payment_method", "payment_method is a payment method"),
    ],
    "duplicate_key": [
        Target("orders", "order_id", "order_id is unique"),
        Target("order_items", "line_no", "(order_id, line_no) is unique"),
        Target("shipments", "updated_at", "(shipment_id, updated_at) is unique"),
        Target("conversations", "conversation_id", "conversation_id is unique"),
        Target("sessions", "hour_start", "(hour_start, channel, campaign, landing_page) is unique"),
        Target("ad_spend", "campaign", "(date, channel, campaign) is unique"),
    ],
    "clicks_over_impressions": [Target("ad_spend", "clicks", "clicks <= impressions")],
    "time_travel": [
        Target("conversations", "first_response_at", "first_response_at >= started_at"),
        Target("shipments", "delivered_at", "delivered_at >= shipped_at"),
    ],
    "out_of_range": [
        Target("conversations", "satisfaction", "satisfaction between 1 and 5"),
        Target("order_items", "quantity", "quantity >= 1"),
    ],
    "amount_mismatch": [
        Target("order_items", "line_amount", "line_amount = quantity x unit_price"),
    ],
}
UNKNOWN = {"channel": "tv", "carrier": "pigeon", "topic": "complaint", "payment_method": "crypto"}
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

MISSING_DAY_SOURCES = (
    "sessions",
    "ad_spend",
    "conversations",
    "shipments",
    "orders",
    "order_items",
)
DUPLICATE_FILE_SOURCES = (
    "orders",
    "shipments",
    "conversations",
    "ad_spend",
    "order_items",
    "sessions",
)
MISSING_COLUMN = {
    "orders": "payment_method",
    "shipments": "carrier",
    "conversations": "agent_id",
    "order_items": "quantity",
    "ad_spend": "clicks",
    "sessions": "bounces",
}
RETYPED_COLUMN = {
    "sessions": "product_views",
    "orders": "amount",
    "shipments": "refund_amount",
    "order_items": "unit_price",
    "ad_spend": "impressions",
    "conversations": "messages",
}
LATE_DAYS = (2, 5)


@dataclass(frozen=True)
class RowFault:
    kind: str
    target: Target


@dataclass
class FaultPlan:
    rows: dict[tuple[str, int], list[RowFault]] = field(default_factory=dict)
    missing: set[tuple[str, int]] = field(default_factory=set)
    duplicates: set[tuple[str, int]] = field(default_factory=set)
    late: dict[int, list[int]] = field(default_factory=dict)  # leaving day -> delays
    missing_column: dict[tuple[str, int], str] = field(default_factory=dict)
    retyped: dict[tuple[str, int], str] = field(default_factory=dict)
    skipped: dict[str, dict] = field(default_factory=dict)

    def skip(self, kind: str, requested: int, injected: int, reason: str) -> None:
        self.skipped[kind] = {"requested": requested, "injected": injected, "reason": reason}


def check_faults(faults: Mapping[str, int] | None) -> dict[str, int]:
    out = {}
    for kind, count in (faults or {}).items():
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; the faults are {sorted(FAULT_KINDS)}")
        if int(count) < 0:
            raise ValueError(f"fault {kind!r}: count must be >= 0")
        if int(count):
            out[kind] = int(count)
    return out


def plan_faults(
    faults: Mapping[str, int], first: int, last: int, formats: Mapping[str, str], seed: int
) -> FaultPlan:
    """Decide which file each fault goes to (rows are picked when the file is written)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, first, last, 1_000]))
    days = list(range(first, last + 1))
    plan = FaultPlan()
    interior = days[1:-1] or days

    # missing days first: nothing else may go to those files
    n = faults.get("missing_day", 0)
    for i in range(n):
        source = MISSING_DAY_SOURCES[i % len(MISSING_DAY_SOURCES)]
        free = [d for d in interior if (source, d) not in plan.missing]
        if not free:
            plan.skip("missing_day", n, i, "not enough days")
            break
        plan.missing.add((source, int(rng.choice(free))))

    n = faults.get("duplicate_file", 0)
    for i in range(n):
        source = DUPLICATE_FILE_SOURCES[i % len(DUPLICATE_FILE_SOURCES)]
        free = [
            d
            for d in days[:-1]
            if (source, d) not in plan.missing
            and (source, d + 1) not in plan.missing
            and (source, d) not in plan.duplicates
        ]
        if not free:
            plan.skip("duplicate_file", n, i, "needs a day followed by another generated day")
            break
        plan.duplicates.add((source, int(rng.choice(free))))

    n = faults.get("late_updates", 0)
    placed = 0
    for _ in range(n):
        k = int(rng.integers(LATE_DAYS[0], LATE_DAYS[1], endpoint=True))
        options = []
        for delay in (k, *range(LATE_DAYS[0], LATE_DAYS[1] + 1)):
            options = [
                d
                for d in days
                if d + delay <= last
                and ("shipments", d) not in plan.missing
                and ("shipments", d + delay) not in plan.missing
            ]
            if options:
                k = delay
                break
        if not options:
            break
        plan.late.setdefault(int(rng.choice(options)), []).append(k)
        placed += 1
    if placed < n:
        plan.skip("late_updates", n, placed, f"needs more than {LATE_DAYS[0]} days")

    def free_days(source: str) -> list[int]:
        return [
            d
            for d in days
            if (source, d) not in plan.missing
            and (source, d) not in plan.missing_column
            and (source, d) not in plan.retyped
        ]

    shuffled = {s: [int(d) for d in rng.permutation(days)] for s in SOURCES}
    n = faults.get("missing_column", 0)
    for i in range(n):
        source = list(MISSING_COLUMN)[i % len(MISSING_COLUMN)]
        free = [d for d in shuffled[source] if d in free_days(source)]
        if not free:
            plan.skip("missing_column", n, i, "not enough files")
            break
        plan.missing_column[(source, free[0])] = MISSING_COLUMN[source]
    n = faults.get("retyped_column", 0)
    order = sorted(RETYPED_COLUMN, key=lambda s: formats[s] != "parquet")
    for i in range(n):
        source = order[i % len(order)]
        free = [d for d in shuffled[source] if d in free_days(source)]
        if not free:
            plan.skip("retyped_column", n, i, "not enough files")
            break
        plan.retyped[(source, free[0])] = RETYPED_COLUMN[source]

    load: Counter[tuple[str, int]] = Counter()
    for kind in ROW_FAULTS:
        n = faults.get(kind, 0)
        if not n:
            continue
        targets = ROW_TARGETS[kind]
        if kind == "bad_type":
            targets = [t for t in targets if formats[t.source] != "parquet"]
            if not targets:
                plan.skip(kind, n, 0, "bad_type needs a CSV or JSON Lines source")
                continue
        for i in range(n):
            target = targets[i % len(targets)]
            free = [d for d in shuffled[target.source] if d in free_days(target.source)]
            if not free:
                plan.skip(kind, n, i, "no file to put it in")
                break
            day = min(free, key=lambda d, s=target.source: load[(s, d)])
            load[(target.source, day)] += 1
            plan.rows.setdefault((target.source, day), []).append(RowFault(kind, target))
    return plan


# ---------------------------------------------------------------------------------------------
# breaking rows
# ---------------------------------------------------------------------------------------------


def _set(df: pl.DataFrame, row: int, column: str, value: object) -> pl.DataFrame:
    dtype = df.schema[column]
    return df.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value, dtype=dtype))
        .otherwise(pl.col(column))
        .alias(column)
    )


def _eligible(df: pl.DataFrame, fault: RowFault) -> np.ndarray:
    column = fault.target.column
    if fault.kind in ("missing_value", "bad_type", "time_travel"):
        return df[column].is_not_null().to_numpy()
    return np.ones(df.height, dtype=bool)


def _bad_text(column: str, value: object) -> str:
    if column in ("amount", "unit_price", "line_amount", "spend", "refund_amount"):
        return money_text(int(value)).replace(".", ",") + "x"  # 129,90x
    if column in ("messages", "quantity"):
        return WORDS[int(value)] if 0 <= int(value) < len(WORDS) else "many"
    if column == "impressions":
        return f"{int(value) / 1000:.1f}k"
    if column.endswith("_at"):
        return "yesterday"
    return "many"


@dataclass
class Injected:
    frame: pl.DataFrame
    overrides: dict[tuple[int, str], str]
    entries: list[dict]  # manifest entries without the file; "row" is 1-based
    unplaced: list[RowFault]


def inject_rows(
    df: pl.DataFrame, source: str, faults: list[RowFault], base_rows: int, rng: np.random.Generator
) -> Injected:
    """Break one row per fault among the first ``base_rows`` rows (duplicates: append a copy).

    Rows are distinct per fault; the copied rows are left intact.
    """
    used: set[int] = set()
    entries: list[dict] = []
    overrides: dict[tuple[int, str], str] = {}
    unplaced: list[RowFault] = []
    copies: list[tuple[int, RowFault]] = []
    # mutations first, then the rows to copy from what is left
    ordered = [f for f in faults if f.kind != "duplicate_key"] + [
        f for f in faults if f.kind == "duplicate_key"
    ]
    for fault in ordered:
        mask = _eligible(df, fault)[:base_rows].copy()
        if used:
            mask[list(used)] = False
        candidates = np.flatnonzero(mask)
        if not len(candidates):
            unplaced.append(fault)
            continue
        row = int(rng.choice(candidates))
        used.add(row)
        column = fault.target.column
        value = df[column][row]
        written: object
        if fault.kind == "duplicate_key":
            copies.append((row, fault))
            continue
        if fault.kind == "missing_value":
            df = _set(df, row, column, None)
            written = None
        elif fault.kind == "bad_type":
            written = _bad_text(column, value)
            overrides[(row, column)] = written
        elif fault.kind == "negative_amount":
            new = -int(value) if value else -int(rng.integers(500, 5000))
            df = _set(df, row, column, new)
            written = render_value(source, column, new)
        elif fault.kind == "unknown_category":
            df = _set(df, row, column, UNKNOWN[column])
            written = UNKNOWN[column]
        elif fault.kind == "clicks_over_impressions":
            impressions = int(df["impressions"][row])
            new = impressions + max(1, impressions // 20)
            df = _set(df, row, column, new)
            written = new
        elif fault.kind == "time_travel":
            if column == "first_response_at":
                new = int(df["started_at"][row]) - int(rng.integers(60, 1800))
            else:
                new = int(df["shipped_at"][row]) - int(rng.integers(HOUR, 2 * DAY))
            df = _set(df, row, column, new)
            written = render_value(source, column, new)
        elif fault.kind == "out_of_range":
            if column == "satisfaction":
                df = _set(df, row, column, 7)
                written = 7
            else:  # quantity 0 with a consistent line_amount 0: one broken rule only
                df = _set(_set(df, row, "quantity", 0), row, "line_amount", 0)
                written = 0
        elif fault.kind == "amount_mismatch":
            new = int(df["quantity"][row]) * int(df["unit_price"][row]) + 1000
            df = _set(df, row, column, new)
            written = render_value(source, column, new)
        else:  # pragma: no cover - every row fault is handled above
            raise AssertionError(fault.kind)
        entries.append(_entry(fault, row + 1, written))
    if copies:
        start = df.height
        df = pl.concat([df, *(df.slice(row, 1) for row, _ in copies)])
        for i, (row, fault) in enumerate(copies):
            value = render_value(source, fault.target.column, df[fault.target.column][row])
            entries.append(_entry(fault, start + i + 1, value))
    entries.sort(key=lambda e: e["row"])
    return Injected(df, overrides, entries, unplaced)


def _entry(fault: RowFault, row: int, value: object) -> dict:
    return {
        "fault": fault.kind,
        "source": fault.target.source,
        "row": row,
        "column": fault.target.column,
        "rule": fault.target.rule,
        "value": value,
    }
