"""The sample-shop generator: determinism, realism of the KPI drivers, and exact faults.

Small scales only (tens of orders a day, a few days); the whole file runs in well under a
minute. Rules are re-checked here with polars from the files themselves (``_violations``),
independently of the ingestion code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from sample_shop import DEFAULT_FAULTS, FAULT_KINDS, MANIFEST_NAME, generate_shop
from sample_shop.faults import ROW_FAULTS, ROW_TARGETS
from sample_shop.output import SCHEMAS
from sample_shop.seasons import spring_festival

SOURCES = list(SCHEMAS)
DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")
UTC_TEXT = "%Y-%m-%dT%H:%M:%SZ"
LOCAL_TEXT = "%Y-%m-%d %H:%M:%S"
SHANGHAI = timedelta(hours=8)

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read(path: Path) -> pl.DataFrame:
    """A landed file as written: CSV and JSON Lines as text, Parquet typed."""
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    if path.suffix == ".jsonl":
        df = pl.read_ndjson(path, infer_schema_length=None)
        return df.select(pl.col(c).cast(pl.String) for c in df.columns)
    return pl.read_parquet(path)


def _parse(df: pl.DataFrame, source: str) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """Typed values (null where missing or unparseable) and, per column, which rows did not
    parse."""
    out, failed = {}, {}
    for column, kind in SCHEMAS[source].items():
        s = df[column]
        if s.dtype == pl.String:
            s = s.str.strip_chars().replace("", None)
        present = s.is_not_null()
        if kind == "str":
            v = s.cast(pl.String)
        elif kind in ("int", "money"):
            f = pl.DataFrame({"f": s.cast(pl.Float64, strict=False)})
            whole = pl.col("f") == pl.col("f").round(0)
            v = f.select(pl.when(whole | (kind == "money")).then(pl.col("f"))).to_series()
        elif kind == "ts":
            if s.dtype == pl.String:
                text = pl.col("s").str
                v = (
                    pl.DataFrame({"s": s})
                    .select(
                        pl.coalesce(
                            text.to_datetime(UTC_TEXT, strict=False),
                            text.to_datetime(LOCAL_TEXT, strict=False),
                        )
                    )
                    .to_series()
                )
            else:
                v = s.dt.replace_time_zone(None) if s.dtype.time_zone else s
        else:  # date
            v = s.str.to_date("%Y-%m-%d", strict=False) if s.dtype == pl.String else s
        out[column] = v.alias(column)
        failed[column] = present & v.is_null()
    return pl.DataFrame(out), failed


REQUIRED = {
    "orders": ["order_id", "customer_id", "created_at", "channel", "payment_method", "amount"],
    "order_items": [
        "order_id", "line_no", "product_id", "category", "quantity", "unit_price", "line_amount",
    ],
    "sessions": [
        "hour_start", "channel", "landing_page", "sessions", "product_detail_sessions",
        "product_views", "bounces",
    ],
    "ad_spend": ["date", "channel", "campaign", "impressions", "clicks", "spend"],
    "conversations": [
        "conversation_id", "customer_id", "agent_id", "topic", "started_at", "ended_at", "messages",
    ],
    "shipments": [
        "shipment_id", "order_id", "carrier", "payment_method", "status", "shipped_at",
        "refund_amount", "updated_at",
    ],
}  # fmt: skip
CHANNELS = ["paid_search", "feed_ads", "social", "organic", "direct"]
ENUMS = {
    "channel": CHANNELS,
    "payment_method": ["prepaid", "cod"],
    "carrier": ["sf_express", "zto", "yto", "jd_logistics", "ems"],
    "topic": ["presale", "aftersale", "order_review"],
    "status": ["shipped", "signed", "refused", "returned"],
}
KEYS = {
    "orders": ["order_id"],
    "order_items": ["order_id", "line_no"],
    "sessions": ["hour_start", "channel", "campaign", "landing_page"],
    "ad_spend": ["date", "channel", "campaign"],
    "conversations": ["conversation_id"],
    "shipments": ["shipment_id", "updated_at"],
}
NON_NEGATIVE = {
    "orders": ["amount"],
    "order_items": ["unit_price", "line_amount"],
    "sessions": ["sessions", "product_detail_sessions", "product_views", "bounces"],
    "ad_spend": ["impressions", "clicks", "spend"],
    "conversations": [],
    "shipments": ["refund_amount"],
}
#: (label, later column, earlier column)
ORDERED = {
    "orders": [("reviewed_at", "created_at")],
    "conversations": [
        ("first_response_at", "started_at"),
        ("ended_at", "started_at"),
        ("ended_at", "first_response_at"),
    ],
    "shipments": [
        ("delivered_at", "shipped_at"),
        ("returned_at", "delivered_at"),
        ("updated_at", "shipped_at"),
    ],
}


def _violations(path: Path, source: str) -> dict[int, set[str]]:
    """1-based row -> the contract rules it breaks, re-checked from the file with polars."""
    raw = _read(path)
    v, failed = _parse(raw, source)
    checks: list[tuple[str, pl.Series]] = []
    for column in REQUIRED[source]:
        missing = raw[column].is_null()
        if raw[column].dtype == pl.String:
            missing = missing | (raw[column].str.strip_chars() == "")
        checks.append((f"required:{column}", missing))
    for column, bad in failed.items():
        checks.append((f"type:{column}", bad))
    for column, allowed in ENUMS.items():
        if column in v.columns:
            ok = allowed if not (source == "ad_spend" and column == "channel") else CHANNELS[:3]
            checks.append((f"enum:{column}", v[column].is_not_null() & ~v[column].is_in(ok)))
    for column in NON_NEGATIVE[source]:
        checks.append((f"ge0:{column}", v[column] < 0))
    ranges = {"line_no": (1, None), "quantity": (1, None), "messages": (1, None)}
    ranges["satisfaction"] = (1, 5)
    for column, (lo, hi) in ranges.items():
        if column in v.columns:
            bad = v[column] < lo
            if hi is not None:
                bad = bad | (v[column] > hi)
            checks.append((f"range:{column}", bad))
    checks.append(("key", ~v.select(pl.struct(KEYS[source]).is_first_distinct()).to_series()))
    for later, earlier in ORDERED.get(source, []):
        checks.append((f"order:{later}", v[later] < v[earlier]))
    if source == "order_items":
        diff = (v["line_amount"] - v["quantity"] * v["unit_price"]).abs()
        checks.append(("line_amount", diff > 0.01 + 1e-9))
    if source == "ad_spend":
        checks.append(("clicks_le_impressions", v["clicks"] > v["impressions"]))
    if source == "sessions":
        checks.append(("detail_le_sessions", v["product_detail_sessions"] > v["sessions"]))
        checks.append(("views_ge_detail", v["product_views"] < v["product_detail_sessions"]))
        checks.append(("bounces_le_sessions", v["bounces"] > v["sessions"]))
    if source == "shipments":
        delivered = v["status"].is_in(["signed", "refused", "returned"])
        checks.append(("delivered_matches_status", v["delivered_at"].is_not_null() != delivered))
        returned = v["status"] == "returned"
        checks.append(("returned_matches_status", v["returned_at"].is_not_null() != returned))
    out: dict[int, set[str]] = defaultdict(set)
    for label, mask in checks:
        for i in mask.fill_null(False).arg_true().to_list():
            out[i + 1].add(label)
    return dict(out)


EXPECTED_RULE = {
    "missing_value": "required:{column}",
    "bad_type": "type:{column}",
    "negative_amount": "ge0:{column}",
    "unknown_category": "enum:{column}",
    "duplicate_key": "key",
    "clicks_over_impressions": "clicks_le_impressions",
    "time_travel": "order:{column}",
    "out_of_range": "range:{column}",
    "amount_mismatch": "line_amount",
}


def _files(root: Path, source: str) -> list[Path]:
    return sorted((root / source).glob(f"{source}_*"))


def _file_day(path: Path | str) -> date:
    return date.fromisoformat(DATE_IN_NAME.search(str(path)).group(1))


def _concat(root: Path, source: str) -> pl.DataFrame:
    frames = []
    for p in _files(root, source):
        if "_resend" in p.name:
            continue
        df, _ = _parse(_read(p), source)
        frames.append(df.with_columns(pl.lit(_file_day(p)).alias("file_day")))
    return pl.concat(frames)


def _local_day(col: str) -> pl.Expr:
    return (pl.col(col) + SHANGHAI).dt.date()


# ---------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    args = dict(start=date(2025, 4, 1), days=6, orders_per_day=30, faults=DEFAULT_FAULTS)
    a = generate_shop(tmp_path / "a", seed=11, **args)
    b = generate_shop(tmp_path / "b", seed=11, **args)
    c = generate_shop(tmp_path / "c", seed=12, **args)
    da, db, dc = _digests(tmp_path / "a"), _digests(tmp_path / "b"), _digests(tmp_path / "c")
    assert a == b
    assert da == db
    assert len(da) >= 6 * 6  # six sources a day (+ the manifest, - the missing day, + resend)
    first_orders = "orders/orders_2025-04-01.csv"
    assert da[first_orders] != dc[first_orders]
    assert a["row_faults"] != c["row_faults"]


def test_a_sub_range_regenerates_the_same_days(tmp_path: Path) -> None:
    full = tmp_path / "full"
    part = tmp_path / "part"
    generate_shop(full, date(2025, 3, 1), 8, orders_per_day=40, seed=5)
    generate_shop(part, date(2025, 3, 5), 4, orders_per_day=40, seed=5)
    got = {k: v for k, v in _digests(part).items() if k != MANIFEST_NAME}
    want = {k: v for k, v in _digests(full).items() if k in got}
    assert len(got) == 4 * 6
    assert got == want  # shipments and conversations included: warm-up days feed them


# ---------------------------------------------------------------------------------------------
# realism of the KPI drivers
# ---------------------------------------------------------------------------------------------


def _daily_orders(root: Path) -> dict[date, int]:
    return {_file_day(p): _read(p).height for p in _files(root, "orders")}


@pytest.mark.parametrize(("year", "month"), [(2025, 1), (2026, 2)])
def test_spring_festival_trough_moves_with_the_lunar_calendar(
    tmp_path: Path, year: int, month: int
) -> None:
    festival = spring_festival(year)
    assert festival.month == month
    assert festival == {2025: date(2025, 1, 29), 2026: date(2026, 2, 17)}[year]
    start = festival - timedelta(days=14)
    generate_shop(tmp_path, start, 35, orders_per_day=120, seed=3)
    orders = _daily_orders(tmp_path)

    def mean(lo: int, hi: int) -> float:
        days = [festival + timedelta(days=k) for k in range(lo, hi + 1)]
        return sum(orders[d] for d in days) / len(days)

    trough = mean(-2, 5)
    around = (mean(-14, -8) + mean(14, 20)) / 2
    assert trough < 0.55 * around
    assert min(orders, key=orders.get).month == month
    # logistics slow down: orders placed around the festival ship later
    ships = _concat(tmp_path, "shipments").filter(pl.col("status") == "shipped")
    created = _concat(tmp_path, "orders").select("order_id", "created_at")
    lag = ships.join(created, on="order_id").with_columns(
        ((pl.col("shipped_at") - pl.col("created_at")).dt.total_hours() / 24).alias("lag"),
        _local_day("created_at").alias("day"),
    )
    near = lag.filter(pl.col("day").is_between(festival - timedelta(days=3), festival))
    before = lag.filter(pl.col("day") < festival - timedelta(days=8))
    assert near["lag"].mean() > before["lag"].mean() + 1.0


def test_618_and_double_11_peak_above_their_month(tmp_path: Path) -> None:
    generate_shop(tmp_path / "jun", date(2025, 6, 1), 30, orders_per_day=30, seed=2)
    generate_shop(tmp_path / "nov", date(2025, 11, 1), 30, orders_per_day=30, seed=2)
    for folder, peak, factor in (("jun", date(2025, 6, 18), 1.8), ("nov", date(2025, 11, 11), 2.5)):
        orders = _daily_orders(tmp_path / folder)
        median = sorted(orders.values())[len(orders) // 2]
        assert orders[peak] == max(orders.values())
        assert orders[peak] > factor * median
        spend = {
            _file_day(p): _parse(_read(p), "ad_spend")[0]["spend"].sum()
            for p in _files(tmp_path / folder, "ad_spend")
        }
        assert spend[peak] > 1.3 * sorted(spend.values())[len(spend) // 2]
    # a ramp: the week before the peak is busier than the first days of the month
    june = _daily_orders(tmp_path / "jun")
    assert sum(june[date(2025, 6, d)] for d in range(11, 18)) > sum(
        june[date(2025, 6, d)] for d in range(1, 8)
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 days, 60 orders a day, no faults."""
    root = tmp_path_factory.mktemp("clean")
    generate_shop(root, date(2025, 3, 1), 45, orders_per_day=60, seed=7)
    return root


def test_clean_files_break_no_rule(clean: Path) -> None:
    for source in SOURCES:
        for path in _files(clean, source):
            assert _violations(path, source) == {}, path


def test_files_follow_the_contract_shapes(clean: Path) -> None:
    orders = pl.read_csv(clean / "orders/orders_2025-03-10.csv", infer_schema=False)
    assert orders.columns == list(SCHEMAS["orders"])
    assert orders["created_at"].str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()
    assert orders["amount"].str.contains(r"^\d+\.\d\d$").all()
    conv = pl.read_ndjson(clean / "conversations/conversations_2025-03-10.jsonl")
    assert conv.columns == list(SCHEMAS["conversations"])
    assert conv["started_at"].str.contains(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$").all()
    sessions = pl.read_parquet(clean / "sessions/sessions_2025-03-10.parquet")
    assert sessions.schema["hour_start"] == pl.Datetime("us", "UTC")
    assert (sessions["hour_start"].dt.minute() == 0).all()
    paid = sessions["channel"].is_in(["paid_search", "feed_ads", "social"])
    assert sessions.filter(paid)["campaign"].is_not_null().all()
    assert sessions.filter(~paid)["campaign"].is_null().all()
    assert pl.read_csv(clean / "ad_spend/ad_spend_2025-03-10.csv").height == 33

    # every row is in the file of its business day (Asia/Shanghai)
    for source, column in (("orders", "created_at"), ("sessions", "hour_start")):
        df = _concat(clean, source)
        assert (df.select(_local_day(column) == pl.col("file_day")).to_series()).all(), source
    conv = _concat(clean, "conversations")
    assert (conv["started_at"].dt.date() == conv["file_day"]).all()  # local already
    ships = _concat(clean, "shipments")
    assert ships.select(_local_day("updated_at") == pl.col("file_day")).to_series().all()
    ads = _concat(clean, "ad_spend")
    assert (ads["date"] == ads["file_day"]).all()


def test_traffic_funnel_and_ad_spend(clean: Path) -> None:
    sessions = _concat(clean, "sessions")
    ads = _concat(clean, "ad_spend")
    orders = _concat(clean, "orders")
    by = ads.group_by("channel").agg(pl.col("impressions", "clicks", "spend").sum())
    by = by.join(sessions.group_by("channel").agg(pl.col("sessions").sum()), on="channel")
    by = by.join(orders.group_by("channel").len(), on="channel").sort("channel")
    ctr = dict(zip(by["channel"], by["clicks"] / by["impressions"], strict=True))
    cpc = dict(zip(by["channel"], by["spend"] / by["clicks"], strict=True))
    cts = dict(zip(by["channel"], by["sessions"] / by["clicks"], strict=True))
    assert all(0.01 <= v <= 0.05 for v in ctr.values())
    assert ctr["paid_search"] > ctr["social"] > ctr["feed_ads"]
    assert cpc["paid_search"] > cpc["social"] > cpc["feed_ads"]
    assert all(0.85 <= v <= 0.95 for v in cts.values())
    all_sessions = sessions.group_by("channel").agg(pl.col("sessions").sum())
    cvr = all_sessions.join(orders.group_by("channel").len(), on="channel")
    cvr = dict(zip(cvr["channel"], cvr["len"] / cvr["sessions"], strict=True))
    assert all(0.013 <= v <= 0.045 for v in cvr.values())
    assert cvr["direct"] > cvr["organic"] > cvr["feed_ads"]
    cod = (orders["payment_method"] == "cod").mean()
    assert 0.13 <= cod <= 0.21


def test_order_amount_is_the_sum_of_its_lines_and_cross_sell_raises_aov(clean: Path) -> None:
    orders = _concat(clean, "orders")
    items = _concat(clean, "order_items")
    assert ((items["line_amount"] - items["quantity"] * items["unit_price"]).abs() < 0.005).all()
    lines = items.group_by("order_id").agg(
        pl.col("line_amount").sum().alias("lines_total"), pl.len().alias("lines")
    )
    joined = orders.join(lines, on="order_id", how="left")
    assert joined["lines"].null_count() == 0
    assert ((joined["amount"] - joined["lines_total"]).abs() < 0.005).all()
    multi = joined.filter(pl.col("lines") > 1)
    single = joined.filter(pl.col("lines") == 1)
    assert 0.18 <= multi.height / joined.height <= 0.32
    assert multi["amount"].mean() > 1.5 * single["amount"].mean()


def test_returning_customers_and_cod_review(clean: Path) -> None:
    orders = _concat(clean, "orders").sort("created_at")
    # a customer id carries the day of the customer's first order: 25-35 % come back
    first_day = pl.col("customer_id").str.slice(1, 8).str.to_date("%Y%m%d")
    returning = orders.select(first_day < pl.col("file_day")).to_series()
    assert 0.25 <= returning.mean() <= 0.35
    # and they are seen again in the data: the later in the range, the more
    seen = orders.with_columns(pl.col("customer_id").cum_count().over("customer_id").alias("k"))
    early = seen.filter(pl.col("file_day") < date(2025, 3, 15))
    late = seen.filter(pl.col("file_day") >= date(2025, 4, 1))
    assert (early["k"] > 1).mean() < (late["k"] > 1).mean()
    delay = orders.with_columns(
        (pl.col("reviewed_at") - pl.col("created_at")).dt.total_seconds().alias("delay")
    )
    prepaid = delay.filter(pl.col("payment_method") == "prepaid")["delay"]
    cod = delay.filter(pl.col("payment_method") == "cod")["delay"]
    assert prepaid.min() >= 0 and prepaid.max() <= 120
    assert cod.median() > 10 * 60  # customer service takes minutes to hours
    reviews = _concat(clean, "conversations").filter(pl.col("topic") == "order_review")
    cod_orders = set(orders.filter(pl.col("payment_method") == "cod")["order_id"])
    # the first days' reviews may be about orders of the warm-up days
    assert len(set(reviews["order_id"]) & cod_orders) > 0.95 * len(cod_orders) - 5


def test_slower_first_response_converts_fewer_presale_inquiries(clean: Path) -> None:
    conv = _concat(clean, "conversations")
    presale = conv.filter(pl.col("topic") == "presale").with_columns(
        (pl.col("first_response_at") - pl.col("started_at")).dt.total_seconds().alias("frt"),
        pl.col("order_id").is_not_null().alias("converted"),
    )
    fast = presale.filter(pl.col("frt") <= 60)
    medium = presale.filter((pl.col("frt") > 60) & (pl.col("frt") <= 180))
    slow = presale.filter(pl.col("frt") > 180)
    unanswered = presale.filter(pl.col("frt").is_null())
    assert min(fast.height, medium.height, slow.height) >= 100
    rates = [df["converted"].mean() for df in (fast, medium, slow, unanswered)]
    assert rates[0] > rates[1] + 0.05 > rates[2] + 0.10
    assert rates[3] < 0.1
    assert fast["satisfaction"].mean() > slow["satisfaction"].mean() + 0.5
    assert presale["messages"].min() >= 1
    # a converted inquiry points at an order of that day, placed after the inquiry ended,
    # by the same customer
    orders = _concat(clean, "orders").select("order_id", "customer_id", "created_at")
    linked = presale.filter("converted").join(orders, on="order_id", suffix="_order")
    assert linked.height == presale["converted"].sum()
    assert (linked["customer_id"] == linked["customer_id_order"]).all()
    assert ((linked["created_at"] + SHANGHAI) >= linked["ended_at"]).all()
    # agents differ: the fastest agent answers faster than the slowest
    agents = presale.group_by("agent_id").agg(pl.col("frt").median()).sort("agent_id")
    assert agents.height == 12
    assert agents["frt"][0] * 3 < agents["frt"][-1]


def test_shipments_sign_off_later_and_cod_is_refused_more(clean: Path) -> None:
    ships = _concat(clean, "shipments")
    shipped = ships.filter(pl.col("status") == "shipped").select(
        "shipment_id", pl.col("file_day").alias("ship_day")
    )
    done = ships.filter(pl.col("status").is_in(["signed", "refused"]))
    both = done.join(shipped, on="shipment_id")
    days_after = (both["file_day"] - both["ship_day"]).dt.total_days()
    assert days_after.min() >= 1
    assert days_after.mean() > 1.5
    assert ((both["delivered_at"] - both["shipped_at"]).dt.total_hours() >= 1).all()
    rate = done.group_by("payment_method").agg((pl.col("status") == "refused").mean())
    rate = dict(zip(rate["payment_method"], rate["status"], strict=True))
    assert rate["cod"] > 4 * rate["prepaid"]
    assert rate["cod"] > 0.06
    returned = ships.filter(pl.col("status") == "returned")
    assert returned.height > 0
    assert (returned["refund_amount"] > 0).all()
    assert (returned["returned_at"] > returned["delivered_at"]).all()
    transit = done.group_by("carrier").agg(
        (pl.col("delivered_at") - pl.col("shipped_at")).dt.total_hours().mean()
    )
    transit = dict(zip(transit["carrier"], transit["delivered_at"], strict=True))
    assert transit["sf_express"] < transit["zto"] < transit["ems"]
    # the last day holds no update dated after it (pending updates are not emitted)
    assert (ships["updated_at"].max() + SHANGHAI).date() == date(2025, 4, 14)


# ---------------------------------------------------------------------------------------------
# faults
# ---------------------------------------------------------------------------------------------

EVERY_TARGET = {kind: 6 for kind in ROW_FAULTS} | {
    "duplicate_file": 2,
    "missing_day": 2,
    "late_updates": 12,
}
ALT_FORMATS = {"orders": "jsonl", "sessions": "csv", "conversations": "csv", "shipments": "jsonl"}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("mixed", DEFAULT_FAULTS, 10), id="demo-faults-mixed"),
        pytest.param((ALT_FORMATS, EVERY_TARGET, 14), id="every-target-other-formats"),
    ],
)
def faulty(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    formats, faults, days = request.param
    root = tmp_path_factory.mktemp("faulty")
    manifest = generate_shop(
        root, date(2025, 5, 6), days, orders_per_day=40, seed=9, faults=faults, formats=formats
    )
    return root, manifest, faults


def test_manifest_counts_every_requested_fault(faulty) -> None:
    root, manifest, faults = faulty
    assert manifest["fault_counts"] == faults
    assert manifest["skipped_faults"] == {}
    assert json.loads((root / MANIFEST_NAME).read_text()) == manifest
    assert set(faults) <= set(FAULT_KINDS)
    row_kinds = Counter(e["fault"] for e in manifest["row_faults"])
    assert row_kinds == {k: n for k, n in faults.items() if k in ROW_FAULTS}
    if faults is EVERY_TARGET:  # every (source, column) target is used
        used = {(e["fault"], e["source"], e["column"]) for e in manifest["row_faults"]}
        for kind, targets in ROW_TARGETS.items():
            for t in targets:
                assert (kind, t.source, t.column) in used


def test_each_row_fault_breaks_exactly_its_rule_and_nothing_else(faulty) -> None:
    root, manifest, _ = faulty
    by_file: dict[str, dict[int, str]] = defaultdict(dict)
    for e in manifest["row_faults"]:
        expected = EXPECTED_RULE[e["fault"]].format(column=e["column"])
        assert e["row"] not in by_file[e["file"]], "two faults on one row"
        by_file[e["file"]][e["row"]] = expected
        if e["fault"] == "bad_type":
            assert not e["file"].endswith(".parquet")
    for source in SOURCES:
        for path in _files(root, source):
            rel = path.relative_to(root).as_posix()
            found = _violations(path, source)
            expected = by_file.get(rel, {})
            if "_resend" in path.name:  # the copy of another day's file
                continue
            assert set(found) == set(expected), rel
            for row, rule in expected.items():
                assert found[row] == {rule}, (rel, row, found[row], rule)
            rows = _read(path).height
            assert len(expected) <= max(1, 0.05 * rows), rel  # under the bad-row threshold


def test_file_faults_are_what_the_manifest_says(faulty) -> None:
    root, manifest, faults = faulty
    kinds = Counter(e["fault"] for e in manifest["file_faults"])
    assert kinds["duplicate_file"] == faults["duplicate_file"]
    assert kinds["missing_day"] == faults["missing_day"]
    assert kinds["late_updates"] == faults["late_updates"]
    for e in manifest["file_faults"]:
        if e["fault"] == "duplicate_file":
            original, copy = root / e["file"], root / e["copy"]
            assert original.read_bytes() == copy.read_bytes()
            assert _file_day(copy) == _file_day(original) + timedelta(days=1)
            assert copy.name.endswith("_resend" + original.suffix)
            assert e["delivered_with"] == _file_day(copy).isoformat()
        elif e["fault"] == "missing_day":
            assert not (root / e["file"]).exists()
            day = date.fromisoformat(e["date"])
            for other in set(SOURCES) - {e["source"]}:
                assert any(_file_day(p) == day for p in _files(root, other))
            assert any(_file_day(p) == day - timedelta(days=1) for p in _files(root, e["source"]))
    # late shipment updates: in a later file, their updated_at day is the due file's day
    late = [e for e in manifest["file_faults"] if e["fault"] == "late_updates"]
    late_rows = defaultdict(set)
    for e in late:
        late_rows[e["file"]].add(e["row"])
        df, _ = _parse(_read(root / e["file"]), "shipments")
        row = df.row(e["row"] - 1, named=True)
        assert row["shipment_id"] == e["shipment_id"]
        assert row["status"] == e["status"] != "shipped"
        updated_day = (row["updated_at"] + SHANGHAI).date()
        assert updated_day == _file_day(e["due_file"])
        assert _file_day(e["file"]) - updated_day == timedelta(days=e["days_late"])
        assert 2 <= e["days_late"] <= 5
    for path in _files(root, "shipments"):
        rel = path.relative_to(root).as_posix()
        if "_resend" in path.name:
            continue
        df, _ = _parse(_read(path), "shipments")
        on_time = df.with_row_index("i", offset=1).filter(~pl.col("i").is_in(late_rows[rel]))
        days = on_time.select(_local_day("updated_at")).to_series().drop_nulls()
        assert (days == _file_day(path)).all(), rel


def test_quarantine_of_the_ingestion_matches_the_manifest(faulty) -> None:
    """The ingestion's own validator quarantines exactly the injected rows."""
    validate = pytest.importorskip("pipelines.ingest.validate")
    settings = pytest.importorskip("pipelines.settings")
    contracts = pytest.importorskip("pipelines.ingest.contracts")
    root, manifest, _ = faulty
    expected = defaultdict(set)
    for e in manifest["row_faults"]:
        expected[e["file"]].add(e["row"])
    for f in manifest["files"]:
        # the sample's local times are Shanghai's, the default business zone
        zone = "Asia/Shanghai" if contracts.SOURCE_SPECS[f["source"]].timestamp_columns else None
        conf = settings.SourceConfig(f["source"], zone)
        checked = validate.validate_file(
            root / f["file"], f["source"], conf, "Asia/Shanghai", f["file"]
        )
        assert set(checked.bad["row_number"].to_list()) == expected[f["file"]], f["file"]


def test_schema_faults_make_a_file_unloadable(tmp_path: Path) -> None:
    manifest = generate_shop(
        tmp_path,
        date(2025, 7, 1),
        4,
        orders_per_day=20,
        faults={"missing_column": 2, "retyped_column": 1},
    )
    faults = {e["fault"]: e for e in manifest["schema_faults"]}
    assert Counter(e["fault"] for e in manifest["schema_faults"]) == {
        "missing_column": 2,
        "retyped_column": 1,
    }
    for e in manifest["schema_faults"]:
        if e["fault"] == "missing_column":
            df = _read(tmp_path / e["file"])
            assert e["column"] not in df.columns
            assert len(df.columns) == len(SCHEMAS[e["source"]]) - 1
    retyped = faults["retyped_column"]
    assert retyped["file"].endswith(".parquet")  # sessions is Parquet in the mix
    column = pl.read_parquet(tmp_path / retyped["file"])[retyped["column"]]
    assert column.dtype == pl.String
    assert column.cast(pl.Float64, strict=False).null_count() == column.len() > 3
    assert manifest["expected"]["unloadable_files"] == [
        e["file"] for e in manifest["schema_faults"]
    ]


def test_formats_progress_and_unplaceable_faults(tmp_path: Path) -> None:
    calls = []
    manifest = generate_shop(
        tmp_path / "csv",
        date(2025, 8, 1),
        3,
        orders_per_day=20,
        formats="csv",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert {p.suffix for p in (tmp_path / "csv").rglob("*_2025-*")} == {".csv"}
    assert manifest["parameters"]["formats"] == {s: "csv" for s in SOURCES}
    assert manifest["other_files"] == []
    again = generate_shop(tmp_path / "csv", date(2025, 8, 3), 1, orders_per_day=20)
    assert "orders/orders_2025-08-01.csv" in again["other_files"]  # left by the first run
    assert "sessions/sessions_2025-08-03.csv" in again["other_files"]  # now Parquet

    generate_shop(
        tmp_path / "mix", date(2025, 8, 1), 2, orders_per_day=20, formats={"sessions": "jsonl"}
    )
    assert (tmp_path / "mix/sessions/sessions_2025-08-01.jsonl").exists()
    assert (tmp_path / "mix/orders/orders_2025-08-01.csv").exists()

    parquet = generate_shop(
        tmp_path / "pq",
        date(2025, 8, 1),
        3,
        orders_per_day=20,
        formats="parquet",
        faults={"bad_type": 2, "negative_amount": 1},
    )
    assert parquet["fault_counts"] == {"negative_amount": 1}
    assert parquet["skipped_faults"]["bad_type"]["injected"] == 0
    with pytest.raises(ValueError, match="unknown fault"):
        generate_shop(tmp_path / "x", date(2025, 8, 1), 1, faults={"gremlins": 1})
    with pytest.raises(ValueError, match="format"):
        generate_shop(tmp_path / "x", date(2025, 8, 1), 1, formats="xlsx")
