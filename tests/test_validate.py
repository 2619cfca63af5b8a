"""Reading, typing and validating single files against the contracts (no Dagster)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest

from pipelines.ingest import load as load_module
from pipelines.ingest import validate as validate_module
from pipelines.ingest.contracts import SOURCES
from pipelines.ingest.load import (
    RECENTLY_WRITTEN_NS,
    BadBatch,
    DayLoader,
    ReadAhead,
    ensure_tables,
    load_day,
)
from pipelines.ingest.validate import (
    SchemaMismatch,
    Validated,
    add_business_date,
    constant_utc_offset,
    read_raw,
    validate_file,
    validate_files,
)
from pipelines.settings import SourceConfig, load_settings

UTC_ORDERS = SourceConfig("orders", "UTC")
ORDERS_HEADER = "order_id,customer_id,created_at,channel,campaign,payment_method,amount,reviewed_at"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def reasons(v) -> set[tuple[int, str, str]]:
    return {(r["row_number"], r["column"], r["check"]) for r in v.bad.iter_rows(named=True)}


def test_each_orders_rule_quarantines_exactly_its_row(tmp_path):
    f = write(
        tmp_path / "orders_2025-03-15.csv",
        f"""
{ORDERS_HEADER}
o1,c1,2025-03-15T01:00:00Z,organic,,prepaid,10.50,2025-03-15T01:01:00Z
o2,c2,2025-03-15T01:00:00Z,tv,,prepaid,20,
o3,c3,2025-03-15T02:00:00Z,organic,,cod,12x,
o4,,2025-03-15T02:00:00Z,organic,,cod,12,
o1,c9,2025-03-15T03:00:00Z,organic,,prepaid,1,
o6,c6,2025-03-15T03:00:00Z,direct,,cod,-1,
o7,c7,2025-03-15T03:00:00Z,direct,,cod,5,2025-03-15T02:00:00Z
o8,c8,2025-03-15T04:00:00Z,paid_search,ps_brand,prepaid,99.9,
""",
    )
    v = validate_file(f, "orders", UTC_ORDERS, "Asia/Shanghai")
    assert v.rows_in == 8
    assert reasons(v) == {
        (2, "channel", "isin(['paid_search', 'feed_ads', 'social', 'organic', 'direct'])"),
        (3, "amount", "dtype(Float64)"),
        (4, "customer_id", "not_nullable"),
        (5, "order_id", "order_id is unique"),
        (6, "amount", "greater_than_or_equal_to(0)"),
        (7, "reviewed_at", "reviewed_at >= created_at"),
    }
    assert v.bad.filter(pl.col("row_number") == 3)["value"].to_list() == ["12x"]
    assert v.good["order_id"].to_list() == ["o1", "o8"]
    assert v.good["_row"].to_list() == [1, 8]
    assert v.good["amount"].to_list() == [10.5, 99.9]


def test_utc_2330_lands_on_next_shanghai_business_day(tmp_path):
    f = write(
        tmp_path / "orders_2025-03-15.csv",
        f"""
{ORDERS_HEADER}
late,c1,2025-03-14T23:30:00Z,organic,,prepaid,1,
early,c1,2025-03-14T15:59:59Z,organic,,prepaid,1,
offset,c1,2025-03-15T07:30:00+08:00,organic,,prepaid,1,
""",
    )
    v = validate_file(f, "orders", UTC_ORDERS, "Asia/Shanghai")
    got = {
        r["order_id"]: (r["created_at"], r["business_date"]) for r in v.good.iter_rows(named=True)
    }
    assert got["late"] == (dt.datetime(2025, 3, 14, 23, 30), dt.date(2025, 3, 15))
    assert got["early"] == (dt.datetime(2025, 3, 14, 15, 59, 59), dt.date(2025, 3, 14))
    # an explicit offset wins over the declared zone: 07:30 +08:00 is 23:30 UTC the day before
    assert got["offset"] == (dt.datetime(2025, 3, 14, 23, 30), dt.date(2025, 3, 15))


_D, _H = dt.datetime, dt.timedelta
BUSINESS_DATE_CASES = {  # zone, first UTC instant, span: is the zone's offset the same?
    "Shanghai, one day": ("Asia/Shanghai", _D(2025, 3, 14, 4), _H(days=1), True),
    "Kathmandu (+05:45)": ("Asia/Kathmandu", _D(2025, 3, 14), _H(days=3), True),
    "New York, before its spring change": ("America/New_York", _D(2025, 3, 7), _H(days=2), True),
    # 2025-03-09 07:00 UTC: -05:00 -> -04:00
    "New York, across it": ("America/New_York", _D(2025, 3, 8), _H(days=2), False),
    # 2025-04-05 15:00 UTC: +11:00 -> +10:30, a change at half past the hour locally
    "Lord Howe, across its change": ("Australia/Lord_Howe", _D(2025, 4, 4, 15, 1), _H(2), False),
    "New York, five months": ("America/New_York", _D(2025, 1, 1), _H(days=150), False),
}


@pytest.mark.parametrize("case", list(BUSINESS_DATE_CASES))
def test_business_date_is_the_local_date_in_the_business_zone(case):
    """The business date of each timestamp is its date in the business zone, as Python's
    zoneinfo gives it, whether the zone's offset holds over the file's span (one addition)
    or changes within it (each value looked up); a null stays null."""
    zone, first, span, constant = BUSINESS_DATE_CASES[case]
    step = (
        dt.timedelta(minutes=7, seconds=13)
        if span < dt.timedelta(days=7)
        else dt.timedelta(hours=5)
    )
    instants: list[dt.datetime | None] = []
    while first + len(instants) * step <= first + span:
        instants.append(first + len(instants) * step)
    instants.insert(3, None)
    frame = pl.DataFrame({"created_at": instants}, schema={"created_at": pl.Datetime("us")})
    tz = ZoneInfo(zone)
    want = [None if t is None else t.replace(tzinfo=dt.UTC).astimezone(tz).date() for t in instants]
    assert add_business_date(frame, "orders", zone)["business_date"].to_list() == want
    assert (constant_utc_offset(frame["created_at"], zone) is not None) == constant
    assert len(set(want) - {None}) >= 2  # the span crosses local midnight


TIMESTAMP_FORMS = {  # created_at as written -> UTC, with the source's zone Asia/Shanghai
    "2025-03-15T01:00:00Z": dt.datetime(2025, 3, 15, 1),
    "2025-03-15 09:00:00": dt.datetime(2025, 3, 15, 1),
    "2025-03-15T09:00:00": dt.datetime(2025, 3, 15, 1),
    "2025-03-15T09:00:00.250": dt.datetime(2025, 3, 15, 1, 0, 0, 250000),
    "2025-03-15T01:00:00.5Z": dt.datetime(2025, 3, 15, 1, 0, 0, 500000),
    "2025-03-15T09:30:00+08:00": dt.datetime(2025, 3, 15, 1, 30),
    " 2025-03-15T01:00:00Z ": dt.datetime(2025, 3, 15, 1),
    "2025-03-15T09:00": dt.datetime(2025, 3, 15, 1),
    "2025-03-15": dt.datetime(2025, 3, 14, 16),
    "15/03/2025 09:00": None,  # no accepted form: quarantined
}


@pytest.mark.parametrize("first", list(TIMESTAMP_FORMS))
def test_every_timestamp_form_parses_whatever_form_the_column_starts_with(tmp_path, first):
    """A column is parsed in its first value's form first; every other value still gets the
    general parser's reading, so the result cannot depend on which form comes first."""
    order = [first, *(text for text in TIMESTAMP_FORMS if text != first)]
    lines = [f'o{i},c1,"{text}",organic,,prepaid,1,' for i, text in enumerate(order)]
    f = write(tmp_path / "orders_2025-03-15.csv", "\n".join([ORDERS_HEADER, *lines]))
    v = validate_file(f, "orders", SourceConfig("orders", "Asia/Shanghai"), "Asia/Shanghai")
    got = dict(zip(v.good["order_id"], v.good["created_at"], strict=True))
    want = {f"o{i}": TIMESTAMP_FORMS[text] for i, text in enumerate(order)}
    assert got == {k: w for k, w in want.items() if w is not None}
    bad_row = 2 + order.index("15/03/2025 09:00") - 1
    assert reasons(v) == {
        (bad_row, "created_at", "dtype(Datetime(time_unit='us', time_zone=None))")
    }


def test_a_blank_value_is_missing_not_broken(tmp_path):
    """A value of only spaces or tabs is a missing value, in a text, number or timestamp
    column: it breaks a not-null rule, never a type; a timestamp column whose first value is
    blank is parsed in the form of its first written value."""
    f = write(
        tmp_path / "orders_2025-03-15.csv",
        f"""
{ORDERS_HEADER}
o1,c1,  ,organic,,prepaid,10,
o2,c2,2025-03-15T01:00:00Z,organic,\t,prepaid,20, 
o3,c3,2025-03-15T02:00:00Z,organic,  ,cod, ,
o4, ,2025-03-15T02:00:00Z,organic,ps,cod,12,\t
o5,c5,2025-03-15T02:30:00Z,organic,,cod,13,2025-03-15T03:00:00Z
""",
    )
    v = validate_file(f, "orders", UTC_ORDERS, "Asia/Shanghai")
    assert reasons(v) == {
        (1, "created_at", "not_nullable"),
        (3, "amount", "not_nullable"),
        (4, "customer_id", "not_nullable"),
    }
    assert v.good.select("order_id", "created_at", "campaign", "reviewed_at").rows() == [
        ("o2", dt.datetime(2025, 3, 15, 1), None, None),
        ("o5", dt.datetime(2025, 3, 15, 2, 30), None, dt.datetime(2025, 3, 15, 3)),
    ]
    column = pl.DataFrame({"created_at": [None, "  ", "2025-03-15 09:00:00", "2025-03-15"]})
    assert validate_module._forms_of(column, ["created_at"]) == {
        "created_at": ("%Y-%m-%d %H:%M:%S", False)
    }


def test_json_lines_are_read_as_text_and_a_late_key_is_not_lost(tmp_path, monkeypatch):
    """Values are typed by the contract, not by JSON: a value of the wrong JSON type
    quarantines its row only. A contract key that first appears after the lines the reader
    takes its keys from is still read."""
    monkeypatch.setattr("pipelines.ingest.validate.JSONL_KEYS_FROM_LINES", 2)
    base = {
        "customer_id": "c",
        "agent_id": "a",
        "topic": "presale",
        "started_at": "2025-03-15 07:30:00",
        "first_response_at": "2025-03-15 07:30:40",
        "ended_at": "2025-03-15 07:40:00",
        "messages": 6,
        "order_id": None,
    }
    rows = [
        {"conversation_id": "k1", **base},  # no satisfaction key in the first two lines
        {"conversation_id": "k2", **base, "messages": True},
        {"conversation_id": "k3", **base, "messages": 4.0, "satisfaction": 4},
        {"conversation_id": "k4", **base, "satisfaction": "5"},
    ]
    f = tmp_path / "conversations_2025-03-15.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    conf = SourceConfig("conversations", "Asia/Shanghai")
    v = validate_file(f, "conversations", conf, "Asia/Shanghai")
    assert reasons(v) == {(2, "messages", "dtype(Int64)")}
    assert v.good.select("conversation_id", "messages", "satisfaction").rows() == [
        ("k1", 6, None),
        ("k3", 4, 4),
        ("k4", 6, 5),
    ]
    # with every key in the first lines, the fast read gives the same rows
    monkeypatch.setattr("pipelines.ingest.validate.JSONL_KEYS_FROM_LINES", 1000)
    again = validate_file(f, "conversations", conf, "Asia/Shanghai")
    assert again.good.equals(v.good) and again.bad.equals(v.bad)


def test_json_lines_read_once_for_their_keys_tell_a_missing_key_from_a_null_one(tmp_path):
    """When every contract key has a value somewhere, the file is read once, for those keys,
    and gives the rows the read of all its keys gives; a key with no value anywhere makes it
    look at the file's keys: absent, the file does not fit the contract; present but null in
    every line, the column is there, all null."""
    expected = ["conversation_id", "messages", "order_id"]
    lines = [
        {"conversation_id": "k1", "messages": 6, "order_id": "o1", "extra": "e"},
        {"conversation_id": "k2", "messages": "x", "order_id": None},
        {"conversation_id": "k3", "messages": 4.5},  # no order_id key in this line
    ]
    f = tmp_path / "valued.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    once = read_raw(f, expected)
    assert once.columns == expected
    assert once.equals(read_raw(f).select(expected))
    assert once.rows() == [("k1", "6", "o1"), ("k2", "x", None), ("k3", "4.5", None)]

    for r in lines:
        r["order_id"] = None
    f.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    assert read_raw(f, expected)["order_id"].to_list() == [None, None, None]
    for r in lines:
        del r["order_id"]
    f.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    assert "order_id" not in read_raw(f, expected).columns


def test_naive_local_timestamps_use_the_declared_zone(tmp_path):
    rows = [
        {
            "conversation_id": "k1",
            "customer_id": "c",
            "agent_id": "a",
            "topic": "presale",
            "started_at": "2025-03-15 07:30:00",
            "first_response_at": "2025-03-15 07:30:40",
            "ended_at": "2025-03-15 07:40:00",
            "messages": 6,
            "order_id": None,
            "satisfaction": 5,
        },
        {
            "conversation_id": "k2",
            "customer_id": "c",
            "agent_id": "a",
            "topic": "presale",
            "started_at": "2025-03-15 07:30:00",
            "first_response_at": "2025-03-15 07:29:00",
            "ended_at": "2025-03-15 07:40:00",
            "messages": "three",
            "order_id": None,
            "satisfaction": 7,
        },
    ]
    f = tmp_path / "conversations_2025-03-15.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    v = validate_file(
        f, "conversations", SourceConfig("conversations", "Asia/Shanghai"), "Asia/Shanghai"
    )
    assert v.good["started_at"].to_list() == [dt.datetime(2025, 3, 14, 23, 30)]
    assert v.good["business_date"].to_list() == [dt.date(2025, 3, 15)]
    assert reasons(v) == {
        (2, "messages", "dtype(Int64)"),
        (2, "first_response_at", "first_response_at >= started_at"),
        (2, "satisfaction", "in_range(1, 5)"),
    }
    assert v.bad_rows == 1


def test_column_mapping_renames_the_shops_columns(tmp_path):
    f = write(
        tmp_path / "ad_spend_2025-03-15.csv",
        """
day,medium,campaign_name,imps,clicks,cost
2025-03-15,paid_search,ps_brand,1000,30,45.5
2025-03-15,paid_search,ps_generic,100,300,5
""",
    )
    conf = SourceConfig(
        "ad_spend",
        None,
        {
            "day": "date",
            "medium": "channel",
            "campaign_name": "campaign",
            "imps": "impressions",
            "cost": "spend",
        },
    )
    v = validate_file(f, "ad_spend", conf, "Asia/Shanghai")
    assert v.good.select("date", "channel", "impressions", "spend").rows() == [
        (dt.date(2025, 3, 15), "paid_search", 1000, 45.5)
    ]
    assert reasons(v) == {(2, "clicks", "clicks <= impressions")}


def test_missing_column_names_file_and_column(tmp_path):
    f = write(
        tmp_path / "orders_2025-03-15.csv",
        """
order_id,customer_id,created_at,channel,campaign,payment_method,reviewed_at
o1,c1,2025-03-15T01:00:00Z,organic,,prepaid,
""",
    )
    with pytest.raises(SchemaMismatch) as err:
        validate_file(f, "orders", UTC_ORDERS, "Asia/Shanghai", "orders/orders_2025-03-15.csv")
    assert err.value.column == "amount"
    assert str(err.value).startswith("orders/orders_2025-03-15.csv: column 'amount' is missing")


def test_retyped_parquet_column_names_file_and_column(tmp_path):
    f = tmp_path / "sessions_2025-03-15.parquet"
    pl.DataFrame(
        {
            "hour_start": [dt.datetime(2025, 3, 15, h) for h in range(4)],
            "channel": ["organic"] * 4,
            "campaign": [None] * 4,
            "landing_page": ["home"] * 4,
            "sessions": ["many", "some", "few", "lots"],
            "product_detail_sessions": [1, 1, 1, 1],
            "product_views": [2, 2, 2, 2],
            "bounces": [0, 0, 0, 0],
        }
    ).write_parquet(f)
    with pytest.raises(SchemaMismatch) as err:
        validate_file(
            f, "sessions", SourceConfig("sessions", "UTC"), "Asia/Shanghai", "sessions/x.parquet"
        )
    assert err.value.column == "sessions"
    assert "was the column retyped" in str(err.value)
    assert "sessions/x.parquet" in str(err.value)


def test_shipment_status_rules(tmp_path):
    header = (
        "shipment_id,order_id,carrier,payment_method,status,shipped_at,delivered_at,"
        "returned_at,refund_amount,updated_at"
    )
    f = write(
        tmp_path / "shipments_2025-03-15.csv",
        f"""
{header}
s1,o1,sf_express,cod,shipped,2025-03-14T01:00:00Z,,,0,2025-03-14T01:00:00Z
s1,o1,sf_express,cod,signed,2025-03-14T01:00:00Z,2025-03-16T01:00:00Z,,0,2025-03-16T01:00:00Z
s2,o2,zto,prepaid,signed,2025-03-14T01:00:00Z,,,0,2025-03-16T01:00:00Z
s3,o3,pigeon,prepaid,shipped,2025-03-14T01:00:00Z,,,0,2025-03-14T01:00:00Z
s4,o4,ems,prepaid,refused,2025-03-14T01:00:00Z,2025-03-13T01:00:00Z,,0,2025-03-16T01:00:00Z
""",
    )
    v = validate_file(f, "shipments", SourceConfig("shipments", "UTC"), "Asia/Shanghai")
    assert reasons(v) == {
        (3, "delivered_at", "delivered_at is set exactly when status is signed/refused/returned"),
        (4, "carrier", "isin(['sf_express', 'zto', 'yto', 'jd_logistics', 'ems'])"),
        (5, "delivered_at", "delivered_at >= shipped_at"),
    }
    assert v.good["_row"].to_list() == [1, 2]


def _settings(tmp_path, monkeypatch, **extra):
    config = tmp_path / "kpi.yaml"
    config.write_text(json.dumps(extra))
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return load_settings(tmp_path / "data")


def test_load_day_replaces_partition_and_skips_duplicate_files(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch)
    landing = settings.landing_dir
    body = (
        f"{ORDERS_HEADER}\no1,c1,2025-03-15T01:00:00Z,organic,,prepaid,10,\n"
        "o2,c1,2025-03-15T02:00:00Z,tv,,prepaid,10,\n"
    )
    body += "".join(f"x{i},c1,2025-03-15T02:00:00Z,organic,,prepaid,1,\n" for i in range(30))
    write(landing / "orders" / "orders_2025-03-15.csv", body)
    write(landing / "orders" / "orders_2025-03-16_resend.csv", body)
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    ensure_tables(con, SOURCES)
    first = load_day(con, settings, "orders", dt.date(2025, 3, 15))
    snapshot = con.execute("select * exclude (_loaded_at) from raw.orders order by _row").fetchall()
    again = load_day(con, settings, "orders", dt.date(2025, 3, 15))
    assert (
        con.execute("select * exclude (_loaded_at) from raw.orders order by _row").fetchall()
        == snapshot
    )
    assert first.rows_loaded == again.rows_loaded == 31
    assert con.execute("select count(*) from raw._quarantine").fetchall()[0][0] == 1
    dup = load_day(con, settings, "orders", dt.date(2025, 3, 16))
    assert [f.status for f in dup.files] == ["duplicate"]
    assert dup.files[0].duplicate_of == "orders/orders_2025-03-15.csv"
    assert con.execute("select count(*) from raw.orders").fetchall()[0][0] == 31
    ledger = con.execute("select file, status from raw._file_ledger order by file").fetchall()
    assert ledger == [
        ("orders/orders_2025-03-15.csv", "loaded"),
        ("orders/orders_2025-03-16_resend.csv", "duplicate"),
    ]


def _last_write_ns(path: Path) -> int:
    """When ``path`` was last written or replaced (its modification or change time)."""
    st = path.stat()
    return max(st.st_mtime_ns, st.st_ctime_ns)


def _clock_after(*files: Path) -> Callable[[], int]:
    """A read-ahead clock that reads just over RECENTLY_WRITTEN_NS after the last write of
    ``files``: the read-ahead, which does not trust the signature of a file written less than
    that long ago, counts them as settled."""
    now = max(_last_write_ns(f) for f in files) + RECENTLY_WRITTEN_NS + 1
    return lambda: now


def _orders_of(day: dt.date, n: int = 40) -> str:
    rows = "".join(
        f"{day:%d}-{i},c{i},{day}T01:{i:02d}:00Z,organic,,prepaid,{i},\n" for i in range(1, n + 1)
    )
    return f"{ORDERS_HEADER}\n{rows}o-bad,c1,{day},tv,,cod,1,\n"


def test_reading_ahead_loads_the_same_rows_and_fails_at_the_same_day(tmp_path, monkeypatch):
    """The next day's files are validated while a day is written; the warehouse ends the
    same as loading day by day, a duplicate is still skipped, and a broken file fails its own
    day, after the days before it are committed."""
    settings = _settings(tmp_path, monkeypatch)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 3, d) for d in (14, 15, 16, 17)]
    for day in days[:2]:
        write(orders / f"orders_{day}.csv", _orders_of(day))
    write(orders / "orders_2025-03-16_resend.csv", (orders / "orders_2025-03-15.csv").read_text())
    write(orders / "orders_2025-03-17.csv", "order_id,customer\n1,2\n")  # no customer_id
    # settled, as landed files usually are: the read-ahead takes the worker's hashes
    clock = _clock_after(*orders.iterdir())

    def load(con, ahead=None):
        done = []
        for day in days:
            try:
                done.append(load_day(con, settings, "orders", day, ahead=ahead))
            except SchemaMismatch as err:
                return done, day, str(err)
        return done, None, None

    plain = duckdb.connect(str(tmp_path / "plain.duckdb"))
    ensure_tables(plain, SOURCES)
    want_done, want_day, want_error = load(plain)
    read_ahead = duckdb.connect(str(tmp_path / "ahead.duckdb"))
    ensure_tables(read_ahead, SOURCES)
    with ReadAhead(settings, "orders", days, clock=clock) as ahead:
        done, failed_day, error = load(read_ahead, ahead)
    assert (
        (failed_day, error)
        == (want_day, want_error)
        == (
            dt.date(2025, 3, 17),
            "orders/orders_2025-03-17.csv: column 'customer_id' is missing; the file has "
            "['order_id', 'customer']: map one of them to it (sources.orders.columns), or "
            "give every row a value (sources.orders.constants) in kpi.yaml",
        )
    )
    assert done == want_done
    assert [[f.status for f in d.files] for d in done] == [["loaded"], ["loaded"], ["duplicate"]]
    for table in ("raw.orders", "raw._quarantine", "raw._file_ledger"):
        query = f"select * exclude (loaded_at) from {table} order by all"
        if table == "raw.orders":
            query = query.replace("loaded_at", "_loaded_at")
        assert read_ahead.execute(query).fetchall() == plain.execute(query).fetchall()
    assert read_ahead.execute("select count(*) from raw.orders").fetchall() == [(80,)]


def _committed(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    """What another connection to the same database sees: the committed rows only."""
    with con.cursor() as other:
        return other.execute(query).fetchall()


def test_a_step_commits_several_days_at_once_and_a_failing_day_fails_alone(tmp_path, monkeypatch):
    """A step's loader keeps its transaction open over several days; a day whose file does
    not fit the contract commits the days before it and changes nothing of its own, and the
    warehouse ends as loading day by day (one transaction each) leaves it."""
    settings = _settings(tmp_path, monkeypatch)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 3, d) for d in (14, 15, 16, 17, 18, 19)]
    for day in (days[0], days[1], days[3], days[5]):
        write(orders / f"orders_{day}.csv", _orders_of(day))
    write(orders / "orders_2025-03-16_resend.csv", (orders / "orders_2025-03-15.csv").read_text())
    write(orders / "orders_2025-03-17_copy.csv", (orders / "orders_2025-03-17.csv").read_text())
    write(orders / "orders_2025-03-18.csv", "order_id,customer\n1,2\n")  # no customer_id
    clock = _clock_after(*orders.iterdir())
    tables = {
        "raw.orders": "select * exclude (_loaded_at) from raw.orders order by all",
        "raw._quarantine": "select * exclude (loaded_at) from raw._quarantine order by all",
        "raw._file_ledger": "select * exclude (loaded_at) from raw._file_ledger order by all",
    }

    day_by_day = duckdb.connect(str(tmp_path / "day_by_day.duckdb"))
    ensure_tables(day_by_day, SOURCES)
    want = []
    for day in days[:4]:
        want.append(load_day(day_by_day, settings, "orders", day))
    with pytest.raises(SchemaMismatch) as want_err:
        load_day(day_by_day, settings, "orders", days[4])

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con, SOURCES)
    got = []
    with (
        ReadAhead(settings, "orders", days, depth=3, clock=clock) as ahead,
        pytest.raises(SchemaMismatch) as err,  # noqa: PT012 - the days before it load first
        DayLoader(con, settings, "orders", ahead=ahead) as loader,
    ):
        for day in days:
            got.append(loader.load(day))
            if day == days[1]:  # two days in, nothing committed yet
                assert _committed(con, "select count(*) from raw.orders") == [(0,)]
    assert (
        str(err.value)
        == str(want_err.value)
        == (
            "orders/orders_2025-03-18.csv: column 'customer_id' is missing; the file has "
            "['order_id', 'customer']: map one of them to it (sources.orders.columns), or "
            "give every row a value (sources.orders.constants) in kpi.yaml"
        )
    )
    assert loader.commits == 1  # the four days before the failing one, in one transaction
    assert got == want
    assert [[f.status for f in d.files] for d in got] == [
        ["loaded"],
        ["loaded"],
        ["duplicate"],
        ["loaded", "duplicate"],
    ]
    assert got[3].files[1].duplicate_of == "orders/orders_2025-03-17.csv"
    for query in tables.values():
        assert _committed(con, query) == day_by_day.execute(query).fetchall()
    assert _committed(
        con, "select _partition_date, count(*) from raw.orders group by 1 order by 1"
    ) == [(days[0], 40), (days[1], 40), (days[3], 40)]
    assert _committed(con, "select count(*) from raw._quarantine") == [(3,)]

    # the same days again, in transactions of two days (by rows): the same rows
    with DayLoader(con, settings, "orders", commit_rows=80) as again:
        for day in days[:4]:
            again.load(day)
            if day == days[0]:
                assert _committed(
                    con, f"select count(*) from raw.orders where _partition_date = '{day}'"
                ) == [(40,)]  # the first load's, not yet replaced
    assert again.commits == 2
    for query in tables.values():
        assert _committed(con, query) == day_by_day.execute(query).fetchall()


def test_a_rejected_file_commits_its_day_with_the_days_before_it(tmp_path, monkeypatch):
    """A file past the bad-row threshold is on record (ledger and quarantine), committed
    with the days of the open transaction before it; the error names it."""
    settings = _settings(tmp_path, monkeypatch, bad_row_threshold=0.10)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 3, 14), dt.date(2025, 3, 15), dt.date(2025, 3, 16)]
    write(orders / f"orders_{days[0]}.csv", _orders_of(days[0], n=20))
    bad = "".join(f"b{i},c1,2025-03-15T02:00:00Z,radio,,prepaid,1,\n" for i in range(3))
    write(orders / f"orders_{days[1]}.csv", _orders_of(days[1], n=7) + bad)
    write(orders / f"orders_{days[2]}.csv", _orders_of(days[2], n=20))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con, SOURCES)
    loader = DayLoader(con, settings, "orders")
    assert loader.load(days[0]).rows_loaded == 20
    assert _committed(con, "select count(*) from raw.orders") == [(0,)]
    with pytest.raises(BadBatch) as err:
        loader.load(days[1])
    assert str(err.value).startswith(
        "orders/orders_2025-03-15.csv: 4 of 11 rows are bad (36.4% > threshold 10.0%)"
    )
    assert loader.commits == 1
    assert _committed(
        con, "select partition_date, status, rows_quarantined from raw._file_ledger order by 1"
    ) == [(days[0], "loaded", 1), (days[1], "rejected", 4)]
    assert _committed(
        con, "select _partition_date, count(*) from raw.orders group by 1 order by 1"
    ) == [(days[0], 20)]
    assert _committed(
        con, "select partition_date, count(*) from raw._quarantine group by 1 order by 1"
    ) == [(days[0], 1), (days[1], 4)]


def test_the_loader_keeps_its_view_of_the_ledger_true_as_days_are_replaced(tmp_path, monkeypatch):
    """A loader reads the ledger once and keeps it up to date: a file whose content was on
    another day until that day was replaced is no longer a duplicate; a day loaded twice in
    one transaction is on record once; after an error rolls the transaction back, nothing of
    the rolled-back days stays on record."""
    settings = _settings(tmp_path, monkeypatch)
    orders = settings.landing_dir / "orders"
    a, b, c = dt.date(2025, 3, 14), dt.date(2025, 3, 15), dt.date(2025, 3, 16)
    first = _orders_of(a)
    write(orders / f"orders_{a}.csv", first)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con, SOURCES)
    load_day(con, settings, "orders", a)

    # the shop corrects day a, and sends its first file again as day b's
    write(orders / f"orders_{a}.csv", _orders_of(a, n=30))
    write(orders / f"orders_{b}.csv", first)
    ledger = "select partition_date, status, rows_loaded from raw._file_ledger order by all"
    with DayLoader(con, settings, "orders") as loader:
        loader.load(a)
        assert [f.status for f in loader.load(b).files] == ["loaded"]
        loader.load(a)  # again, in the same transaction
    assert con.execute(ledger).fetchall() == [(a, "loaded", 30), (b, "loaded", 40)]

    # the same content as day a again, under day c: a duplicate, until a rollback
    write(orders / f"orders_{c}.csv", _orders_of(a, n=30))
    real_write = DayLoader._write

    def failing_write(self, day, files):
        if day == b:
            raise OSError("disk full")
        return real_write(self, day, files)

    monkeypatch.setattr(DayLoader, "_write", failing_write)
    with DayLoader(con, settings, "orders") as loader:
        write(orders / f"orders_{a}.csv", _orders_of(a, n=20))
        loader.load(a)  # a's content is now the 20-row file
        with pytest.raises(OSError, match="disk full"):
            loader.load(b)
        # rolled back: a has its 30-row file again, so c's copy of it is a duplicate
        assert [(f.status, f.duplicate_of) for f in loader.load(c).files] == [
            ("duplicate", f"orders/orders_{a}.csv")
        ]
    assert con.execute(ledger).fetchall() == [
        (a, "loaded", 30),
        (b, "loaded", 40),
        (c, "duplicate", 0),
    ]
    assert con.execute(
        "select _partition_date, count(*) from raw.orders group by 1 order by 1"
    ).fetchall() == [(a, 30), (b, 40)]


def test_a_file_rewritten_after_it_was_read_ahead_loads_its_new_content(tmp_path, monkeypatch):
    """The worker validated tomorrow's file; the file is rewritten, at the same size, before
    tomorrow loads: the new content is validated and loaded, and the ledger's hash is the new
    content's."""
    settings = _settings(tmp_path, monkeypatch)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 3, 14), dt.date(2025, 3, 15)]

    def rows(day: dt.date, prefix: str, n: int) -> str:
        return "".join(
            f"{prefix}{i},c{i},{day}T01:{i:02d}:00Z,organic,,prepaid,{i},\n" for i in range(n)
        )

    files = [
        write(orders / f"orders_{day}.csv", f"{ORDERS_HEADER}\n{rows(day, 'old-', 3)}")
        for day in days
    ]
    clock = _clock_after(*files)  # the worker's signature of the 15th's file is trusted
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con, SOURCES)
    with ReadAhead(settings, "orders", days, clock=clock) as ahead:
        load_day(con, settings, "orders", days[0], ahead=ahead)
        for path, job in list(ahead._pending.items()):  # the worker is done with the 15th
            assert job.result()[path].signature is not None
        rewritten = files[1]
        old = rewritten.stat()
        write(rewritten, f"{ORDERS_HEADER}\n{rows(days[1], 'new-', 3)}")
        # rewritten a second after it was first written, as the clock has it
        os.utime(rewritten, ns=(old.st_atime_ns, old.st_mtime_ns + RECENTLY_WRITTEN_NS))
        assert rewritten.stat().st_size == old.st_size
        load_day(con, settings, "orders", days[1], ahead=ahead)
    loaded = con.execute(
        "select order_id from raw.orders where _partition_date = ? order by 1", [days[1]]
    ).fetchall()
    assert loaded == [("new-0",), ("new-1",), ("new-2",)]
    [(digest,)] = con.execute(
        "select sha256 from raw._file_ledger where partition_date = ?", [days[1]]
    ).fetchall()
    assert digest == hashlib.sha256(rewritten.read_bytes()).hexdigest()


def test_a_settled_file_is_hashed_once_on_the_worker_and_a_fresh_one_again(tmp_path, monkeypatch):
    """The writing thread does not hash a file again that the worker read and that has not
    changed since, unless the file was written just before the worker looked at it (its
    signature may then miss a second write). The ledger's hashes are the files' either way."""
    settings = _settings(tmp_path, monkeypatch)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 3, 14), dt.date(2025, 3, 15), dt.date(2025, 3, 16)]

    def day_file(day: dt.date) -> Path:
        rows = "".join(
            f"{day:%d}-{i},c{i},{day}T01:00:00Z,organic,,prepaid,{i},\n" for i in range(4)
        )
        return write(orders / f"orders_{day}.csv", f"{ORDERS_HEADER}\n{rows}")

    files = [day_file(day) for day in days[:2]]
    clock = _clock_after(*files)
    files.append(day_file(days[2]))
    now = clock()
    os.utime(files[2], ns=(now, now))  # written just now, as the clock has it
    hashed_by: list[tuple[str, str]] = []
    sha256_of = load_module.sha256_of

    def spy(path: Path) -> str:
        thread = threading.current_thread().name
        hashed_by.append(("worker" if thread.startswith("read-") else "writer", path.name))
        return sha256_of(path)

    monkeypatch.setattr(load_module, "sha256_of", spy)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con, SOURCES)
    with ReadAhead(settings, "orders", days, clock=clock) as ahead:
        loaded = [load_day(con, settings, "orders", day, ahead=ahead).rows_loaded for day in days]
    assert loaded == [4, 4, 4]
    assert sorted(hashed_by) == sorted(
        [("writer", files[2].name)] + [("worker", f.name) for f in files]
    )
    assert con.execute("select file, sha256 from raw._file_ledger order by 1").fetchall() == [
        (f"orders/{f.name}", hashlib.sha256(f.read_bytes()).hexdigest()) for f in files
    ]


def test_a_step_loads_the_files_landed_when_it_started(tmp_path, monkeypatch):
    """The read-ahead lists the source's folder once, when the step starts: each day gets the
    files whose name carries its date (the first date in the name), by name, whatever their
    case of suffix; other files and folders are not the day's. A file landing for a day of
    the step after it started is left to the next run of that day (the landing sensor's),
    which loads it beside the day's other files."""
    settings = _settings(tmp_path, monkeypatch)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 3, 14), dt.date(2025, 3, 15)]

    def rows(prefix: str, day: dt.date, n: int) -> str:
        return f"{ORDERS_HEADER}\n" + "".join(
            f"{prefix}{i},c{i},{day}T01:{i:02d}:00Z,organic,,prepaid,{i},\n" for i in range(n)
        )

    write(orders / "orders_2025-03-14.csv", rows("a", days[0], 2))
    write(orders / "b_2025-03-15_and_2025-03-14.CSV", rows("b", days[1], 3))
    write(orders / "a_2025-03-15.csv", rows("c", days[1], 4))
    write(orders / "orders_2025-03-15.txt", "not a delivery")
    (orders / "2025-03-15.csv").mkdir()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con, SOURCES)
    with ReadAhead(settings, "orders", days) as ahead:
        assert [[p.name for p in ahead.files(day)] for day in days] == [
            ["orders_2025-03-14.csv"],
            ["a_2025-03-15.csv", "b_2025-03-15_and_2025-03-14.CSV"],
        ]
        load_day(con, settings, "orders", days[0], ahead=ahead)
        write(orders / "late_2025-03-15.csv", rows("d", days[1], 5))
        during = load_day(con, settings, "orders", days[1], ahead=ahead)
    assert [f.file for f in during.files] == [
        "orders/a_2025-03-15.csv",
        "orders/b_2025-03-15_and_2025-03-14.CSV",
    ]
    assert during.rows_loaded == 7
    after = load_day(con, settings, "orders", days[1])
    assert after.rows_loaded == 12
    assert con.execute(
        "select _partition_date, count(*), min(order_id), max(order_id) from raw.orders "
        "group by 1 order by 1"
    ).fetchall() == [(days[0], 2, "a0", "a1"), (days[1], 12, "b0", "d4")]
    assert con.execute(
        "select partition_date, file from raw._file_ledger order by 1, 2"
    ).fetchall() == [
        (days[0], "orders/orders_2025-03-14.csv"),
        (days[1], "orders/a_2025-03-15.csv"),
        (days[1], "orders/b_2025-03-15_and_2025-03-14.CSV"),
        (days[1], "orders/late_2025-03-15.csv"),
    ]


def test_threshold_rejects_the_batch_and_names_file_counts_and_reasons(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch, bad_row_threshold=0.10)
    good = "".join(f"g{i},c1,2025-03-15T02:00:00Z,organic,,prepaid,1,\n" for i in range(8))
    bad = (
        "b1,c1,2025-03-15T02:00:00Z,tv,,prepaid,1,\nb2,c1,2025-03-15T02:00:00Z,radio,,prepaid,1,\n"
    )
    write(
        settings.landing_dir / "orders" / "orders_2025-03-15.csv", ORDERS_HEADER + "\n" + good + bad
    )
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    ensure_tables(con, SOURCES)
    with pytest.raises(BadBatch) as err:
        load_day(con, settings, "orders", dt.date(2025, 3, 15))
    msg = str(err.value)
    assert msg.startswith(
        "orders/orders_2025-03-15.csv: 2 of 10 rows are bad (20.0% > threshold 10.0%)"
    )
    assert "channel: isin(" in msg and "(2)" in msg
    # nothing of the file is loaded, but the bad rows are queryable and the file is on record
    assert con.execute("select count(*) from raw.orders").fetchall()[0][0] == 0
    assert con.execute("select count(*) from raw._quarantine").fetchall()[0][0] == 2
    assert con.execute("select status from raw._file_ledger").fetchall() == [("rejected",)]
    # one bad row in ten is at the threshold, not past it: the file loads
    write(
        settings.landing_dir / "orders" / "orders_2025-03-15.csv",
        ORDERS_HEADER
        + "\n"
        + good
        + bad.splitlines()[0]
        + "\n"
        + "g9,c1,2025-03-15T02:00:00Z,organic,,prepaid,1,\n",
    )
    result = load_day(con, settings, "orders", dt.date(2025, 3, 15))
    assert (result.rows_loaded, result.rows_quarantined) == (9, 1)


def test_a_raw_table_from_an_older_contract_is_refused_with_a_clear_message(tmp_path):
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    con.execute("create schema raw")
    con.execute("create table raw.orders (order_id varchar, amount double)")
    with pytest.raises(RuntimeError) as err:
        ensure_tables(con, SOURCES)
    assert "raw.orders in the build warehouse has the columns ['order_id', 'amount']" in str(
        err.value
    )


T0 = dt.datetime(2025, 3, 15, 1)
HOUR = dt.timedelta(hours=1)
#: two good rows of each source, typed as the reader types them, with different keys
GOOD_ROWS: dict[str, list[dict]] = {
    "orders": [
        {
            "order_id": f"o{i}",
            "customer_id": "c1",
            "created_at": T0,
            "channel": "organic",
            "campaign": None,
            "payment_method": "prepaid",
            "amount": 10.5,
            "reviewed_at": T0 + HOUR,
        }
        for i in (1, 2)
    ],
    "order_items": [
        {
            "order_id": "o1",
            "line_no": i,
            "product_id": "p1",
            "category": "shoes",
            "quantity": 2,
            "unit_price": 5.0,
            "line_amount": 10.0,
        }
        for i in (1, 2)
    ],
    "sessions": [
        {
            "hour_start": T0,
            "channel": "organic",
            "campaign": None,
            "landing_page": page,
            "sessions": 10,
            "product_detail_sessions": 5,
            "product_views": 8,
            "bounces": 3,
        }
        for page in ("/home", "/sale")
    ],
    "ad_spend": [
        {
            "date": dt.date(2025, 3, 15),
            "channel": "social",
            "campaign": campaign,
            "impressions": 100,
            "clicks": 7,
            "spend": 12.5,
        }
        for campaign in ("spring", "summer")
    ],
    "conversations": [
        {
            "conversation_id": f"v{i}",
            "customer_id": "c1",
            "agent_id": "a1",
            "topic": "presale",
            "started_at": T0,
            "first_response_at": T0 + HOUR,
            "ended_at": T0 + 2 * HOUR,
            "messages": 4,
            "order_id": None,
            "satisfaction": 5,
        }
        for i in (1, 2)
    ],
    "shipments": [
        {
            "shipment_id": f"s{i}",
            "order_id": "o1",
            "carrier": "zto",
            "payment_method": "cod",
            "status": "returned",
            "shipped_at": T0,
            "delivered_at": T0 + HOUR,
            "returned_at": T0 + 2 * HOUR,
            "refund_amount": 3.0,
            "updated_at": T0 + 2 * HOUR,
        }
        for i in (1, 2)
    ],
}
NAN = float("nan")
#: changes to a source's second good row, each meant to break the rule it is listed under
#: (a rule is (column, check) as pandera's failure cases name it, "*" for a rule on the row)
BREAKS: dict[str, dict[tuple[str, str], list[dict]]] = {
    "orders": {
        ("order_id", "str_length(1, None)"): [{"order_id": ""}],
        ("customer_id", "str_length(1, None)"): [{"customer_id": ""}],
        ("channel", "isin(['paid_search', 'feed_ads', 'social', 'organic', 'direct'])"): [
            {"channel": "tv"}
        ],
        ("payment_method", "isin(['prepaid', 'cod'])"): [{"payment_method": "card"}],
        ("amount", "greater_than_or_equal_to(0)"): [{"amount": -0.01}],
        ("*", "orders_key_unique"): [{"order_id": "o1"}],
        ("*", "orders_reviewed_after_created"): [{"reviewed_at": T0 - HOUR}],
    },
    "order_items": {
        ("order_id", "str_length(1, None)"): [{"order_id": ""}],
        ("line_no", "greater_than_or_equal_to(1)"): [{"line_no": 0}],
        ("product_id", "str_length(1, None)"): [{"product_id": ""}],
        ("category", "str_length(1, None)"): [{"category": ""}],
        ("quantity", "greater_than_or_equal_to(1)"): [{"quantity": 0, "line_amount": 0.0}],
        ("unit_price", "greater_than_or_equal_to(0)"): [
            {"quantity": 1, "unit_price": -0.004, "line_amount": 0.0}
        ],
        ("line_amount", "greater_than_or_equal_to(0)"): [
            {"quantity": 1, "unit_price": 0.0, "line_amount": -0.005}
        ],
        ("*", "order_items_key_unique"): [{"line_no": 1}],
        ("*", "order_items_amount_matches"): [{"line_amount": 10.02}],
    },
    "sessions": {
        ("channel", "isin(['paid_search', 'feed_ads', 'social', 'organic', 'direct'])"): [
            {"channel": "tv"}
        ],
        ("landing_page", "str_length(1, None)"): [{"landing_page": ""}],
        ("sessions", "greater_than_or_equal_to(0)"): [
            {"sessions": -1, "product_detail_sessions": None, "bounces": None}
        ],
        ("product_detail_sessions", "greater_than_or_equal_to(0)"): [
            {"product_detail_sessions": -1}
        ],
        ("product_views", "greater_than_or_equal_to(0)"): [
            {"product_views": -1, "product_detail_sessions": None}
        ],
        ("bounces", "greater_than_or_equal_to(0)"): [{"bounces": -1}],
        ("*", "sessions_key_unique"): [{"landing_page": "/home"}],
        ("*", "sessions_detail_le_sessions"): [
            {"product_detail_sessions": 11, "product_views": 12}
        ],
        ("*", "sessions_views_ge_detail"): [{"product_views": 4}],
        ("*", "sessions_bounces_le_sessions"): [{"bounces": 11}],
    },
    "ad_spend": {
        ("channel", "isin(['paid_search', 'feed_ads', 'social'])"): [{"channel": "organic"}],
        ("campaign", "str_length(1, None)"): [{"campaign": ""}],
        ("impressions", "greater_than_or_equal_to(0)"): [{"impressions": -1, "clicks": None}],
        ("clicks", "greater_than_or_equal_to(0)"): [{"clicks": -1}],
        ("spend", "greater_than_or_equal_to(0)"): [{"spend": -0.5}],
        ("*", "ad_spend_key_unique"): [{"campaign": "spring"}],
        ("*", "ad_spend_clicks_le_impressions"): [{"clicks": 101}],
    },
    "conversations": {
        ("conversation_id", "str_length(1, None)"): [{"conversation_id": ""}],
        ("customer_id", "str_length(1, None)"): [{"customer_id": ""}],
        ("agent_id", "str_length(1, None)"): [{"agent_id": ""}],
        ("topic", "isin(['presale', 'aftersale', 'order_review'])"): [{"topic": "billing"}],
        ("messages", "greater_than_or_equal_to(1)"): [{"messages": 0}],
        ("satisfaction", "in_range(1, 5)"): [{"satisfaction": 0}, {"satisfaction": 6}],
        ("*", "conversations_key_unique"): [{"conversation_id": "v1"}],
        ("*", "conversations_response_after_start"): [
            {"first_response_at": T0 - HOUR, "ended_at": T0}
        ],
        ("*", "conversations_end_after_start"): [
            {"ended_at": T0 + HOUR / 2},  # before the first response
            {"first_response_at": None, "ended_at": T0 - HOUR},  # before the start
        ],
    },
    "shipments": {
        ("shipment_id", "str_length(1, None)"): [{"shipment_id": ""}],
        ("order_id", "str_length(1, None)"): [{"order_id": ""}],
        ("carrier", "isin(['sf_express', 'zto', 'yto', 'jd_logistics', 'ems'])"): [
            {"carrier": "pigeon"}
        ],
        ("payment_method", "isin(['prepaid', 'cod'])"): [{"payment_method": "card"}],
        ("status", "isin(['shipped', 'signed', 'refused', 'returned'])"): [
            {"status": "lost", "delivered_at": None, "returned_at": None}
        ],
        ("refund_amount", "greater_than_or_equal_to(0)"): [{"refund_amount": -1.0}],
        ("*", "shipments_key_unique"): [{"shipment_id": "s1"}],
        ("*", "shipments_delivered_matches_status"): [{"status": "shipped", "returned_at": None}],
        ("*", "shipments_returned_matches_status"): [{"status": "signed"}],
        ("*", "shipments_delivered_after_shipped"): [
            {"delivered_at": T0 - HOUR, "returned_at": T0}
        ],
        ("*", "shipments_returned_after_delivered"): [{"returned_at": T0}],
        ("*", "shipments_updated_after_shipped"): [{"updated_at": T0 - HOUR}],
    },
}


def _typed(source: str, rows: list[dict]) -> pl.DataFrame:
    from pipelines.ingest.validate import contract_dtypes

    return pl.DataFrame(rows, schema=contract_dtypes(source), orient="row")


def _pandera_says(source: str, frame: pl.DataFrame) -> set[tuple[int, str, str]]:
    """(row index, column, check) of every failure pandera's own validation reports."""
    from pandera.errors import SchemaErrors

    from pipelines.ingest.contracts import SOURCE_SPECS

    model = SOURCE_SPECS[source].contract
    try:
        model.validate(frame, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
    else:
        return set()
    frame_level = model.to_schema().name
    return {
        (r["index"], "*" if r["column"] == frame_level else r["column"], r["check"])
        for r in cases.iter_rows(named=True)
    }


def _all_rules(source: str) -> set[tuple[str, str]]:
    from pipelines.fastpaths import _check_name
    from pipelines.ingest.contracts import SOURCE_SPECS

    schema = SOURCE_SPECS[source].contract.to_schema()
    out = {("*", _check_name(c)) for c in schema.checks}
    for name, column in schema.columns.items():
        out |= {(name, _check_name(c)) for c in column.checks}
        if not column.nullable:
            out.add((name, "not_nullable"))
    return out


@pytest.mark.parametrize("source", SOURCES)
def test_the_one_query_screen_finds_the_rules_pandera_finds(source, monkeypatch):
    """Every rule of every contract, broken in one row: the screen that lets a clean file skip
    pandera's query per check (``failing_rules``) names exactly the rules pandera's own
    validation fails, so a file it passes is one pandera passes."""
    from pipelines.fastpaths import failing_rules
    from pipelines.ingest.contracts import SOURCE_SPECS

    monkeypatch.setenv("KPI_FASTPATHS", "1")
    model = SOURCE_SPECS[source].contract
    good = GOOD_ROWS[source]
    assert failing_rules(_typed(source, good), model) == set()
    assert _pandera_says(source, _typed(source, good)) == set()

    breaks = dict(BREAKS[source])
    for name, column in model.to_schema().columns.items():
        if not column.nullable:
            nulls = [{name: None}] + ([{name: NAN}] if column.dtype.type.is_float() else [])
            breaks.setdefault((name, "not_nullable"), nulls)
    assert set(breaks) == _all_rules(source), "a rule without a row that breaks it"

    for rule, changes in breaks.items():
        for change in changes:
            frame = _typed(source, [good[0], {**good[1], **change}])
            pandera = _pandera_says(source, frame)
            assert rule in {(c, k) for i, c, k in pandera if i == 1}, (rule, change, pandera)
            assert {(c, k) for _, c, k in pandera} == failing_rules(frame, model), (rule, change)


@pytest.mark.parametrize("fastpaths", ["1", "0"])
def test_a_clean_file_skips_panderas_validation_and_a_dirty_one_does_not(
    tmp_path, monkeypatch, fastpaths
):
    """The screen is what a clean file pays: pandera's validation runs only when a rule fails.
    With the fast paths off (pipelines/fastpaths.py) pandera validates every file, and finds
    the same."""
    monkeypatch.setenv("KPI_FASTPATHS", fastpaths)
    screened = fastpaths == "1"
    from pipelines.ingest.contracts import Orders

    calls = []
    validate = Orders.validate.__func__

    def counted(cls, *args, **kwargs):
        calls.append(1)
        return validate(cls, *args, **kwargs)

    monkeypatch.setattr(Orders, "validate", classmethod(counted))
    clean = write(
        tmp_path / "orders_2025-03-15.csv",
        f"{ORDERS_HEADER}\no1,c1,2025-03-15T01:00:00Z,organic,,prepaid,10.50,\n",
    )
    v = validate_file(clean, "orders", UTC_ORDERS, "Asia/Shanghai")
    assert (v.good.height, v.bad.height, len(calls)) == (1, 0, 0 if screened else 1)
    dirty = write(
        tmp_path / "orders_2025-03-16.csv",
        f"{ORDERS_HEADER}\no1,c1,2025-03-16T01:00:00Z,organic,,prepaid,-1,\n",
    )
    v = validate_file(dirty, "orders", UTC_ORDERS, "Asia/Shanghai")
    assert (v.good.height, reasons(v), len(calls)) == (
        0,
        {(1, "amount", "greater_than_or_equal_to(0)")},
        1 if screened else 2,
    )


def test_the_screen_leaves_to_pandera_what_it_does_not_evaluate(monkeypatch):
    """A model using something the one query does not evaluate gets no answer from it (None):
    pandera validates. A model-wide dtype is one: the query would compare each column with its
    own dtype and find nothing, where pandera finds the column of the wrong type."""
    import pandera.polars as pa
    from pandera.errors import SchemaErrors

    from pipelines.fastpaths import failing_rules

    monkeypatch.setenv("KPI_FASTPATHS", "1")

    class Plain(pa.DataFrameModel):
        a: float = pa.Field(ge=0)

    class ModelWideDtype(Plain):
        class Config:
            dtype = pl.Int64

    class Strict(Plain):
        class Config:
            strict = True

    class Unique(pa.DataFrameModel):
        a: float = pa.Field(unique=True)

    frame = pl.DataFrame({"a": [1.0, 1.0]})
    assert failing_rules(frame, Plain) == set()
    assert failing_rules(pl.DataFrame({"a": [-1.0]}), Plain) == {
        ("a", "greater_than_or_equal_to(0)")
    }
    for model in (ModelWideDtype, Strict, Unique):
        assert failing_rules(frame, model) is None, model.__name__
    with pytest.raises(SchemaErrors):
        ModelWideDtype.validate(frame, lazy=True)
    assert failing_rules(pl.DataFrame({"a": ["x"]}), Plain) is None  # not the model's dtype


def test_small_files_are_read_ahead_by_two_threads_large_ones_by_one(tmp_path, monkeypatch):
    """The number of threads follows the files' median size; two threads validating files
    at once find exactly what one finds, bad rows and all."""
    small = tmp_path / "small.csv"
    small.write_text("a\n1\n")
    large = tmp_path / "large.csv"
    with large.open("wb") as fh:
        fh.truncate(load_module.SMALL_FILE_BYTES)
    assert load_module.read_ahead_workers([small, small, large]) == 2
    assert load_module.read_ahead_workers([small, large, large]) == 1
    assert load_module.read_ahead_workers([]) == 1

    settings = _settings(tmp_path, monkeypatch)
    days = [dt.date(2025, 3, 1) + dt.timedelta(i) for i in range(16)]
    for i, day in enumerate(days):
        bad = "".join(f"b{j},c1,{day}T02:00:00Z,radio,,prepaid,{j},\n" for j in range(i % 3))
        write(settings.landing_dir / "orders" / f"orders_{day}.csv", _orders_of(day) + bad)
    clock = _clock_after(*(settings.landing_dir / "orders").iterdir())
    with ReadAhead(settings, "orders", days, depth=len(days), clock=clock) as ahead:
        assert ahead.workers == 2
        ahead.start(days[0])  # every day's files, two at a time
        taken = [ahead.take(path)[1] for day in days for path in ahead.files(day)]
    for day, read in zip(days, taken, strict=True):
        path = settings.landing_dir / "orders" / f"orders_{day}.csv"
        alone = validate_file(path, "orders", settings.source("orders"), settings.business_timezone)
        assert read is not None
        got = read.validated()
        assert got.good.equals(alone.good) and got.bad.equals(alone.bad)
        assert got.bad_rows == 1 + (day - days[0]).days % 3


def test_files_validated_together_get_what_each_gets_alone(tmp_path, monkeypatch):
    """Small files are typed and checked together (a first backfill's many days), and each
    gets exactly what it gets alone: a clean file its rows, numbered from 1 in its own file;
    a file with a bad row its quarantine, naming its rows (its clean neighbours unspoilt); a
    file missing a column its own error; a key repeated in two files is no fault of either
    (keys are unique within a file); local timestamps are said to be read in the business
    zone file by file."""
    settings = _settings(tmp_path, monkeypatch)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 3, 1) + dt.timedelta(i) for i in range(6)]

    def clean(day: dt.date, n: int, key: str, local: bool = False) -> str:
        at = f"{day} 09:{{i:02d}}:00" if local else f"{day}T01:{{i:02d}}:00Z"
        rows = "".join(
            f"{key}{i},c{i},{at.format(i=i)},organic,,prepaid,{i}.5,\n" for i in range(1, n + 1)
        )
        return f"{ORDERS_HEADER}\n{rows}"

    files = [
        write(orders / f"orders_{days[0]}.csv", clean(days[0], 3, "a")),
        write(orders / f"orders_{days[1]}.csv", clean(days[1], 5, "a")),  # a1..a3 again
        write(orders / f"orders_{days[2]}.csv", _orders_of(days[2], 4)),  # one bad row
        write(orders / f"orders_{days[3]}.csv", "order_id,customer\nx1,c1\n"),
        write(orders / f"orders_{days[4]}.csv", clean(days[4], 2, "e", local=True)),
        write(orders / f"orders_{days[5]}.csv", clean(days[5], 4, "f")),
    ]
    items = [(f, f.relative_to(settings.landing_dir).as_posix()) for f in files]
    conf, zone = settings.source("orders"), settings.business_timezone
    frames: list[int] = []  # the rows of each frame typed and checked
    validate_raw = validate_module._validate_raw

    def spy(raw, *args, **kwargs):
        frames.append(raw.height)
        return validate_raw(raw, *args, **kwargs)

    monkeypatch.setattr(validate_module, "_validate_raw", spy)
    together = validate_files(items, "orders", conf, zone)
    monkeypatch.undo()
    # the five files with the orders' columns together (3 + 5 + 5 + 2 + 4 rows), then
    # alone: the one with keys of the first (its rows are copies there), the one with a bad
    # row, and the one missing a column
    assert frames == [19, 5, 5, 1]
    assert len(together) == len(files)
    for (path, name), got in zip(items, together, strict=True):
        try:
            alone = validate_file(path, "orders", conf, zone, name)
        except SchemaMismatch as err:
            assert isinstance(got, SchemaMismatch) and str(got) == str(err)
            continue
        assert isinstance(got, type(alone))
        assert got.good.equals(alone.good) and got.bad.equals(alone.bad)
        assert (got.rows_in, got.zone_assumed) == (alone.rows_in, alone.zone_assumed)
    first, second, bad, missing, local, last = together
    assert first.good["_row"].to_list() == [1, 2, 3]
    assert second.good["order_id"].to_list() == [f"a{i}" for i in range(1, 6)]
    assert second.good["amount"].to_list() == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert (bad.rows_in, bad.bad_rows) == (5, 1)
    assert bad.bad["row_number"].unique().to_list() == [5]
    assert isinstance(missing, SchemaMismatch) and "customer_id" in str(missing)
    assert "orders_2025-03-04.csv" in str(missing)
    assert local.zone_assumed == ("created_at",) and first.zone_assumed == ()
    # 09:01 in Shanghai is 01:01 UTC, the business date the day itself
    assert local.good["business_date"].to_list() == [days[4], days[4]]
    assert last.good["_row"].to_list() == [1, 2, 3, 4] and not last.bad.height


def test_a_bad_file_in_a_long_batch_is_quarantined_alone_and_each_file_keeps_its_rows(
    tmp_path, monkeypatch
):
    """A first backfill's small files are validated in batches of many days and loaded in
    long transactions: a file with a bad row among a hundred days' is quarantined alone (its
    row, column and rule), each other file loads every row under its own day and name,
    numbered from 1 in its file, and only the file written in local time is said to be read
    in the business zone."""
    settings = _settings(tmp_path, monkeypatch, bad_row_threshold=0.5)
    orders = settings.landing_dir / "orders"
    days = [dt.date(2025, 1, 1) + dt.timedelta(i) for i in range(100)]
    bad_day, local_day = days[57], days[71]

    def rows(day: dt.date, n: int) -> str:
        at = f"{day} 09:{{i:02d}}:00" if day == local_day else f"{day}T01:{{i:02d}}:00Z"
        return "".join(
            f"{day:%m%d}-{i},c{i},{at.format(i=i)},"
            f"{'radio' if (day, i) == (bad_day, 3) else 'organic'},,prepaid,{i}.25,\n"
            for i in range(1, n + 1)
        )

    sizes = {day: 2 + i % 5 for i, day in enumerate(days)}
    for day in days:
        write(orders / f"orders_{day}.csv", f"{ORDERS_HEADER}\n{rows(day, sizes[day])}")
    clock = _clock_after(*orders.iterdir())
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_tables(con, SOURCES)
    with (
        ReadAhead(settings, "orders", days, depth=3, clock=clock) as ahead,
        DayLoader(con, settings, "orders", ahead=ahead) as loader,
    ):
        results = {day: loader.load(day) for day in days}
    assert loader.commits == 1  # a hundred small days in one transaction
    assert con.execute(
        "select file, row_number, column_name, check_name, value from raw._quarantine"
    ).fetchall() == [
        (
            f"orders/orders_{bad_day}.csv",
            3,
            "channel",
            "isin(['paid_search', 'feed_ads', 'social', 'organic', 'direct'])",
            "radio",
        )
    ]
    # every other row under its own file and day, numbered in its file, its amount its own
    got = con.execute("select _partition_date, _file, _row, order_id, amount from raw.orders")
    assert sorted(got.fetchall()) == sorted(
        (day, f"orders/orders_{day}.csv", i, f"{day:%m%d}-{i}", i + 0.25)
        for day in days
        for i in range(1, sizes[day] + 1)
        if (day, i) != (bad_day, 3)
    )
    ledger = con.execute(
        "select partition_date, status, rows_in, rows_loaded, rows_quarantined "
        "from raw._file_ledger order by 1"
    ).fetchall()
    assert ledger == [
        (day, "loaded", sizes[day], sizes[day] - (day == bad_day), int(day == bad_day))
        for day in days
    ]
    assumed = {day: r.files[0].zone_assumed for day, r in results.items()}
    assert {day: a for day, a in assumed.items() if a} == {local_day: ("created_at",)}


def test_files_read_together_get_what_each_gets_alone(tmp_path, monkeypatch):
    """Plain CSV files under one header are read in one read: each still gets what it gets
    alone, a file with a row of too many fields or cut mid-row its own error (its neighbours
    their rows), one without rows its empty result, one in brackets its own rows."""
    settings = _settings(tmp_path, monkeypatch, bad_row_threshold=0.5)
    orders = settings.landing_dir / "orders"
    day = dt.date(2025, 3, 1)

    def clean(key: str, n: int) -> str:
        return "".join(
            f"{key}{i},c{i},{day}T01:{i:02d}:00Z,organic,,prepaid,{i}.5,\n" for i in range(1, n + 1)
        )

    files = [
        write(orders / "orders_a.csv", f"{ORDERS_HEADER}\n{clean('a', 3)}"),
        write(orders / "orders_b.csv", f"{ORDERS_HEADER}\n{clean('b', 2)}b9,c9,x,y,z,w,1,2,3\n"),
        write(orders / "orders_c.csv", ORDERS_HEADER),
        write(orders / "orders_d[1].csv", f"{ORDERS_HEADER}\n{clean('d', 4)}"),
        orders / "orders_e.csv",
        write(orders / "orders_f.csv", f"{ORDERS_HEADER}\n{clean('f', 2)}"),
    ]
    files[4].write_text(f"{ORDERS_HEADER}\n{clean('e', 2)}e3,c3,{day}", encoding="utf-8")
    items = [(f, f.relative_to(settings.landing_dir).as_posix()) for f in files]
    conf, zone = settings.source("orders"), settings.business_timezone
    together = validate_files(items, "orders", conf, zone)
    kinds = []
    for (path, name), got in zip(items, together, strict=True):
        try:
            alone = validate_file(path, "orders", conf, zone, name)
        except SchemaMismatch as err:
            assert isinstance(got, SchemaMismatch) and str(got) == str(err)
            kinds.append(err.kind)
            continue
        assert isinstance(got, Validated)
        assert got.good.equals(alone.good) and got.bad.equals(alone.bad)
        assert got.rows_in == alone.rows_in
        kinds.append(got.good["order_id"].to_list())
    assert kinds == [
        ["a1", "a2", "a3"],
        "schema",
        [],
        ["d1", "d2", "d3", "d4"],
        "cut",
        ["f1", "f2"],
    ]
