"""A shop's own exports through kpi.yaml's mapping and the presets (pipelines/ingest/mapping.py):
each preset's realistic file (tests/exports/) loads into a real DuckDB warehouse with the rows
worked out by hand from the file; a hand-written mapping reads a GBK file with Chinese headers,
`$1,234.50` amounts and `yyyymmdd` dates; a weekly report is spread over its days exactly to
the cent; a mistake in the mapping is refused by name and place; a file that needs no mapping
gives the rows it gave before."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.ingest.contracts import SOURCES
from pipelines.ingest.load import LEDGER, QUARANTINE, DayLoader, ensure_tables, load_day
from pipelines.ingest.mapping import merge_preset, presets, spread
from pipelines.ingest.report import quarantine_rows
from pipelines.ingest.validate import SchemaMismatch, has_time, validate_file
from pipelines.settings import ConfigError, SourceConfig, load_settings, source_config
from sample_shop.generator import generate_shop

EXPORTS = Path(__file__).with_name("exports")
SHOPIFY = EXPORTS / "shopify_orders_export_2025-03-14.csv"
TAOBAO_ORDERS = EXPORTS / "taobao_ExportOrderList_2025-03-14.csv"
TAOBAO_ITEMS = EXPORTS / "taobao_ExportOrderDetailList_2025-03-14.csv"
META_WEEKLY = EXPORTS / "meta_ads_weekly_2025-03-17.csv"
HAND_GBK = EXPORTS / "orders_history_gbk_2025-03-05.csv"

HAND_MAPPING = """
sources:
  orders:
    encoding: gbk
    columns: {客户编号: customer_id, 下单日期: created_at, 金额: amount, 支付方式: payment_method}
    ids: {order_id: row}          # the export has no order id
    dates: {created_at: "%Y%m%d"}
    constants: {channel: direct}
    values:
      payment_method: {支付宝: prepaid, 微信支付: prepaid, 货到付款: cod}
"""


def configure(tmp_path: Path, monkeypatch, text: str) -> Path:
    """kpi.yaml with ``text``, and the data directory it serves."""
    config = tmp_path / "kpi.yaml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    data = tmp_path / "data"
    monkeypatch.setenv("KPI_DATA_DIR", str(data))
    return data


def land(data: Path, folder: str, *files: Path) -> None:
    (data / "landing" / folder).mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copyfile(file, data / "landing" / folder / file.name)


def load_days(settings, source: str, days: list[dt.date]) -> duckdb.DuckDBPyConnection:
    """``source``'s days loaded into the real build warehouse (one transaction a day)."""
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.build_db))
    ensure_tables(con, SOURCES)
    for day in days:
        load_day(con, settings, source, day)
    return con


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


# ---- the presets, each on its realistic file -------------------------------------------


def test_shopify_one_export_gives_orders_and_their_lines(tmp_path, monkeypatch):
    data = configure(
        tmp_path,
        monkeypatch,
        "business_timezone: America/New_York\n"
        "sources:\n  orders: {preset: shopify}\n  order_items: {preset: shopify}\n",
    )
    land(data, "orders", SHOPIFY)  # the one export, in the orders folder only
    settings = load_settings()
    day = dt.date(2025, 3, 14)
    con = load_days(settings, "orders", [day])
    for day_loaded in [day]:
        load_day(con, settings, "order_items", day_loaded)
    # the first row of each order, but the voided one; created_at from its offset, in UTC
    assert rows(
        con,
        "select order_id, customer_id, created_at, channel, campaign, payment_method, amount, "
        "reviewed_at, business_date, _row from raw.orders order by order_id",
    ) == [
        ("#1001", "ada@example.com", dt.datetime(2025, 3, 13, 14, 14), "direct", None,
         "prepaid", 47.0, None, dt.date(2025, 3, 13), 1),
        ("#1002", "bo@example.com", dt.datetime(2025, 3, 14, 1, 30, 5), "direct", None,
         "prepaid", 25.0, None, dt.date(2025, 3, 13), 3),
        ("#1003", "cy@example.com", dt.datetime(2025, 3, 14, 12, 2, 11), "direct", None,
         "cod", 64.75, None, dt.date(2025, 3, 14), 4),
        ("#1005", "ada@example.com", dt.datetime(2025, 3, 14, 16, 45, 30), "direct", None,
         "prepaid", 64.9, None, dt.date(2025, 3, 14), 7),
        ("#1006", "eli@example.com", dt.datetime(2025, 3, 14, 19, 10), "direct", None,
         "prepaid", 16.0, None, dt.date(2025, 3, 14), 10),
        ("#1007", "fay@example.com", dt.datetime(2025, 3, 14, 22, 20), "direct", None,
         "prepaid", 54.9, None, dt.date(2025, 3, 14), 11),
    ]  # fmt: skip
    # every line, numbered within its order, line_amount = quantity x price
    assert rows(
        con,
        "select order_id, line_no, product_id, category, quantity, unit_price, "
        "round(line_amount, 2), _row from raw.order_items order by _row",
    ) == [
        ("#1001", 1, "Botanical Fern Print", "uncategorised", 2, 16.0, 32.0, 1),
        ("#1001", 2, "Canvas Tote Bag", "uncategorised", 1, 20.0, 20.0, 2),
        ("#1002", 1, "Speckled Mug", "uncategorised", 1, 25.0, 25.0, 3),
        ("#1003", 1, "Linen Apron", "uncategorised", 1, 34.9, 34.9, 4),
        ("#1003", 2, "Beeswax Wrap", "uncategorised", 3, 9.95, 29.85, 5),
        ("#1004", 1, "Speckled Mug", "uncategorised", 1, 25.0, 25.0, 6),
        ("#1005", 1, "Canvas Tote Bag", "uncategorised", 1, 20.0, 20.0, 7),
        ("#1005", 2, "Speckled Mug", "uncategorised", 1, 25.0, 25.0, 8),
        ("#1005", 3, "Beeswax Wrap", "uncategorised", 2, 9.95, 19.9, 9),
        ("#1006", 1, "Botanical Fern Print", "uncategorised", 1, 16.0, 16.0, 10),
        ("#1007", 1, "Linen Apron", "uncategorised", 1, 34.9, 34.9, 11),
        ("#1007", 2, "Canvas Tote Bag", "uncategorised", 1, 20.0, 20.0, 12),
    ]
    # the same file loaded once for each source: not a duplicate of the other's
    assert rows(
        con, f"select source, file, status, rows_in, rows_loaded from {LEDGER} order by source"
    ) == [
        ("order_items", f"orders/{SHOPIFY.name}", "loaded", 12, 12),
        ("orders", f"orders/{SHOPIFY.name}", "loaded", 6, 6),
    ]


def test_taobao_reports_in_gbk_load_with_their_quirks(tmp_path, monkeypatch):
    data = configure(
        tmp_path,
        monkeypatch,
        "sources:\n  orders: {preset: taobao}\n  order_items: {preset: taobao}\n",
    )
    land(data, "orders", TAOBAO_ORDERS)
    land(data, "order_items", TAOBAO_ITEMS)
    settings = load_settings()
    con = load_days(settings, "orders", [dt.date(2025, 3, 14)])
    load_day(con, settings, "order_items", dt.date(2025, 3, 14))
    # ids out of their ="…" guards; Beijing time to UTC; the two unpaid orders left out
    assert rows(
        con,
        "select order_id, customer_id, created_at, amount, channel, payment_method, "
        "business_date from raw.orders order by _row",
    ) == [
        ("3515313147329357901", "tb6125470", dt.datetime(2025, 3, 12, 16, 42, 32), 201.12,
         "direct", "prepaid", dt.date(2025, 3, 13)),
        ("3508286990564888402", "琳郗薷", dt.datetime(2025, 3, 13, 14, 29, 59), 186.15,
         "direct", "prepaid", dt.date(2025, 3, 13)),
        ("1329363879652744303", "阿珊小镇二", dt.datetime(2025, 3, 13, 12, 42, 50), 331.55,
         "direct", "prepaid", dt.date(2025, 3, 13)),
        ("1323053689360303004", "congheng天下", dt.datetime(2025, 3, 13, 11, 46, 26), 989.0,
         "direct", "prepaid", dt.date(2025, 3, 13)),
        ("2991114212321081405", "tb27452426", dt.datetime(2025, 3, 13, 10, 59, 20), 236.55,
         "direct", "prepaid", dt.date(2025, 3, 13)),
        ("3515313147329357906", "tb6125470", dt.datetime(2025, 3, 13, 4, 0, 1), 59.9,
         "direct", "prepaid", dt.date(2025, 3, 13)),
        ("3515313147329357909", "陈女士", dt.datetime(2025, 3, 13, 2, 20, 30), 1288.0,
         "direct", "prepaid", dt.date(2025, 3, 13)),
        ("3515313147329357910", "琳郗薷", dt.datetime(2025, 3, 13, 8, 5), 45.5,
         "direct", "prepaid", dt.date(2025, 3, 13)),
    ]  # fmt: skip
    assert rows(con, "select round(sum(amount), 2) from raw.orders") == [(3337.77,)]
    assert rows(
        con,
        "select order_id, line_no, quantity, unit_price, round(line_amount, 2) "
        "from raw.order_items order by _row",
    ) == [
        ("3515313147329357901", 1, 1, 239.0, 239.0),
        ("3508286990564888402", 1, 1, 219.0, 219.0),
        ("1329363879652744303", 1, 1, 349.0, 349.0),
        ("1323053689360303004", 1, 1, 1009.0, 1009.0),
        ("2991114212321081405", 1, 1, 249.0, 249.0),
        ("3515313147329357906", 1, 2, 29.95, 59.9),
        ("3515313147329357907", 1, 1, 88.0, 88.0),
        ("3515313147329357908", 1, 1, 120.0, 120.0),
        ("3515313147329357909", 1, 1, 899.0, 899.0),
        ("3515313147329357909", 2, 1, 389.0, 389.0),
        ("3515313147329357910", 1, 1, 45.5, 45.5),
    ]
    assert rows(con, f"select count(*) from {QUARANTINE}") == [(0,)]


#: Meta's weekly report, by hand: (campaign, week start) -> (impressions, clicks, spend);
#: blank link clicks are 0 (the preset's `blanks`), the totals row is left out
META_WEEKS = {
    ("Spring Sale - Broad", dt.date(2025, 3, 3)): (45012, 610, "1234.56"),
    ("Spring Sale - Lookalike", dt.date(2025, 3, 3)): (22105, 301, "890.10"),
    ("Retargeting 7d", dt.date(2025, 3, 3)): (8800, 0, "250.00"),
    ("Brand Awareness", dt.date(2025, 3, 3)): (30000, 45, "100.00"),
    ("Catalog Sales", dt.date(2025, 3, 3)): (12000, 200, "400.05"),
    ("Spring Sale - Broad", dt.date(2025, 3, 10)): (46800, 655, "1350.00"),
    ("Spring Sale - Lookalike", dt.date(2025, 3, 10)): (20400, 270, "790.00"),
    ("Retargeting 7d", dt.date(2025, 3, 10)): (8500, 52, "260.00"),
    ("Brand Awareness", dt.date(2025, 3, 10)): (31000, 0, "100.00"),
    ("Catalog Sales", dt.date(2025, 3, 10)): (13100, 236, "410.00"),
    ("Winter Clearance", dt.date(2025, 3, 10)): (0, 0, "0.00"),
}


def test_a_weekly_meta_report_is_spread_over_its_days_exactly_to_the_cent(tmp_path, monkeypatch):
    data = configure(
        tmp_path, monkeypatch, "sources:\n  ad_spend: {preset: meta_ads, grain: week}\n"
    )
    land(data, "ad_spend", META_WEEKLY)
    con = load_days(load_settings(), "ad_spend", [dt.date(2025, 3, 17)])
    got = rows(
        con,
        "select campaign, min(date), max(date), count(*), sum(impressions), sum(clicks), "
        "sum(spend::decimal(18, 2)), min(channel), max(channel), min(spread_from), "
        "max(spread_from), count(distinct _row) "
        "from raw.ad_spend group by campaign, date_trunc('week', date) order by 1, 2",
    )
    assert {(c, start): (i, k, str(s)) for c, start, _, _, i, k, s, *_ in got} == META_WEEKS
    for _, start, end, days, *_, low, high, low_g, high_g, file_rows in got:
        assert (end - start, days) == (dt.timedelta(days=6), 7)
        assert (low, high, low_g, high_g, file_rows) == ("social", "social", "week", "week", 1)
    # a week's days differ by at most a cent (a count by one), the earlier days first
    broad = rows(
        con,
        "select date, impressions, clicks, spend from raw.ad_spend "
        "where campaign = 'Spring Sale - Broad' and date < '2025-03-10' order by date",
    )
    assert broad == [
        (dt.date(2025, 3, 3), 6431, 88, 176.37),
        (dt.date(2025, 3, 4), 6431, 87, 176.37),
        (dt.date(2025, 3, 5), 6430, 87, 176.37),
        (dt.date(2025, 3, 6), 6430, 87, 176.37),
        (dt.date(2025, 3, 7), 6430, 87, 176.36),
        (dt.date(2025, 3, 8), 6430, 87, 176.36),
        (dt.date(2025, 3, 9), 6430, 87, 176.36),
    ]
    assert rows(con, "select count(*), count(distinct business_date) from raw.ad_spend") == [
        (77, 14)
    ]


def test_spreading_splits_by_largest_remainder_over_a_week_and_a_month():
    good = pl.DataFrame(
        {
            "_row": [1, 2],
            "date": [dt.date(2025, 2, 1), dt.date(2025, 3, 3)],
            "channel": ["social", "social"],
            "campaign": ["m", "w"],
            "impressions": [100, 3],
            "clicks": [30, 0],
            "spend": [0.05, 1000.01],
        },
        schema_overrides={"impressions": pl.Int64, "clicks": pl.Int64},
    )
    month = spread(good.slice(0, 1), "ad_spend", "month")
    assert month.height == 28  # February 2025
    assert month["spend"].to_list() == [0.01] * 5 + [0.0] * 23
    assert month["impressions"].to_list() == [4] * 16 + [3] * 12  # 100 = 16 x 4 + 12 x 3
    assert month["clicks"].sum() == 30 and month["clicks"].max() - month["clicks"].min() <= 1
    week = spread(good.slice(1, 1), "ad_spend", "week")
    assert week["date"].to_list() == [dt.date(2025, 3, d) for d in range(3, 10)]
    cents = [round(v * 100) for v in week["spend"].to_list()]
    assert sum(cents) == 100001 and cents == [14286] * 6 + [14285]  # 6 cents left over
    assert week["impressions"].to_list() == [1, 1, 1, 0, 0, 0, 0]
    assert set(week["spread_from"]) == {"week"}


def test_overlapping_weeks_of_one_file_are_quarantined_not_loaded_twice(tmp_path):
    f = tmp_path / "spend_2025-03-17.csv"
    f.write_text(
        "Week,Campaign,Impr,Clicks,Cost\n"
        "2025-03-03,a,700,7,70.00\n"
        "2025-03-05,a,700,7,70.00\n"  # overlaps the first week from its Wednesday
        "2025-03-10,a,70,0,7.00\n",
        encoding="utf-8",
    )
    conf = source_config(
        "ad_spend",
        {
            "columns": {"Week": "date", "Campaign": "campaign", "Impr": "impressions",
                        "Clicks": "clicks", "Cost": "spend"},
            "constants": {"channel": "paid_search"},
            "grain": "week",
        },
    )  # fmt: skip
    checked = validate_file(f, "ad_spend", conf, "Asia/Shanghai")
    assert checked.good.height == 14 and sorted(set(checked.good["_row"])) == [1, 3]
    assert checked.bad.select("row_number", "column").rows() == [(2, "date")]
    assert "is unique once each week is spread over its days" in checked.bad["check"][0]


# ---- a hand-written mapping of an unusual export ---------------------------------------


def test_a_gbk_file_with_chinese_headers_dollar_amounts_and_yyyymmdd_dates_loads(
    tmp_path, monkeypatch
):
    data = configure(tmp_path, monkeypatch, HAND_MAPPING)
    land(data, "orders", HAND_GBK)
    con = load_days(load_settings(), "orders", [dt.date(2025, 3, 5)])
    got = rows(
        con,
        "select customer_id, created_at, business_date, amount, payment_method, channel "
        "from raw.orders order by _row",
    )
    # a yyyymmdd date is a business day: it starts at midnight in the business zone
    # (Asia/Shanghai, stored in UTC), whatever zone the source's timestamps are in
    day = {d: dt.datetime(2025, 3, d) - dt.timedelta(hours=8) for d in range(1, 6)}
    assert got == [
        ("C1001", day[1], dt.date(2025, 3, 1), 1234.5, "prepaid", "direct"),
        ("C1002", day[1], dt.date(2025, 3, 1), 89.9, "cod", "direct"),
        ("C1001", day[2], dt.date(2025, 3, 2), 12.0, "prepaid", "direct"),
        ("C1003", day[2], dt.date(2025, 3, 2), 2005.75, "prepaid", "direct"),
        ("C1004", day[3], dt.date(2025, 3, 3), 45.1, "prepaid", "direct"),
        ("C1002", day[3], dt.date(2025, 3, 3), 89.9, "cod", "direct"),
        ("C1005", day[3], dt.date(2025, 3, 3), 310.0, "prepaid", "direct"),
        ("C1006", day[4], dt.date(2025, 3, 4), 9.99, "prepaid", "direct"),
        ("C1001", day[4], dt.date(2025, 3, 4), 1234.5, "prepaid", "direct"),
        ("C1007", day[4], dt.date(2025, 3, 4), 65.0, "cod", "direct"),
        ("C1001", day[2], dt.date(2025, 3, 2), 12.0, "prepaid", "direct"),
        ("C1008", day[5], dt.date(2025, 3, 5), 0.5, "prepaid", "direct"),
    ]
    assert rows(con, "select sum(amount::decimal(18, 2)) from raw.orders") == [
        (Decimal("5109.14"),)
    ]
    # an id for every row, the two identical rows (3 and 11) told apart, none quarantined
    ids = [r[0] for r in rows(con, "select order_id from raw.orders order by _row")]
    assert len(set(ids)) == 12 and rows(con, f"select count(*) from {QUARANTINE}") == [(0,)]


def test_ids_made_from_rows_are_stable_across_runs_and_a_longer_export(tmp_path, monkeypatch):
    configure(tmp_path, monkeypatch, HAND_MAPPING)
    conf = load_settings().source("orders")
    first = validate_file(HAND_GBK, "orders", conf, "Asia/Shanghai")
    again = validate_file(HAND_GBK, "orders", conf, "Asia/Shanghai")
    assert first.good["order_id"].to_list() == again.good["order_id"].to_list()
    # the same history exported again with a newer order on top: the old rows keep their ids
    lines = HAND_GBK.read_bytes().decode("gbk").splitlines()
    longer = tmp_path / "orders_2025-03-06.csv"
    longer.write_bytes(
        "".join(
            f"{line}\r\n" for line in [lines[0], "C1009,20250306,1,$5.00,支付宝", *lines[1:]]
        ).encode("gbk")
    )
    later = validate_file(longer, "orders", conf, "Asia/Shanghai")
    assert later.good["order_id"].to_list()[1:] == first.good["order_id"].to_list()
    # made of columns: customer + day, joined as written
    conf = source_config(
        "orders", {**_hand_section(), "ids": {"order_id": ["客户编号", "下单日期"]}}
    )
    joined = validate_file(HAND_GBK, "orders", conf, "Asia/Shanghai")
    assert joined.good["order_id"].head(2).to_list() == ["C1001|20250301", "C1002|20250301"]
    # customer + day is not unique in this export: the second of a pair is quarantined
    assert joined.bad.select("row_number", "column", "check").rows() == [
        (11, "order_id", "order_id is unique")
    ]


def _hand_section() -> dict:
    import yaml

    return yaml.safe_load(HAND_MAPPING)["sources"]["orders"]


def test_the_quarantine_names_the_file_the_row_the_column_both_ways_and_the_rule(
    tmp_path, monkeypatch
):
    data = configure(tmp_path, monkeypatch, HAND_MAPPING)
    (data / "landing" / "orders").mkdir(parents=True)
    text = HAND_GBK.read_bytes().decode("gbk")
    text = text.replace("C1004,20250303,1,$45.10,支付宝", "C1004,20250303,1,$45.10,比特币")
    text = text.replace("C1006,20250304,1,$9.99", "C1006,2025-03-04,1,$9.99")
    text = text.replace("C1008,20250305,1,$0.50", "C1008,20250305,1,五毛")
    (data / "landing" / "orders" / "orders_2025-03-05.csv").write_bytes(text.encode("gbk"))
    settings = load_settings().__class__(**{**load_settings().__dict__, "bad_row_threshold": 0.5})
    con = load_days(settings, "orders", [dt.date(2025, 3, 5)])
    assert rows(
        con,
        f"select file, row_number, column_name, file_column, check_name, value from {QUARANTINE} "
        "order by row_number",
    ) == [
        ("orders/orders_2025-03-05.csv", 5, "payment_method", "支付方式",
         "isin(['prepaid', 'cod'])", "比特币"),
        ("orders/orders_2025-03-05.csv", 8, "created_at", "下单日期",
         "dtype(Datetime(time_unit='us', time_zone=None)) in format %Y%m%d", "2025-03-04"),
        ("orders/orders_2025-03-05.csv", 12, "amount", "金额", "dtype(Float64)", "五毛"),
    ]  # fmt: skip
    assert rows(con, "select count(*) from raw.orders") == [(9,)]
    # and `kpi quarantine` says both names
    listed = quarantine_rows(con, "orders")
    assert [r[3] for r in listed] == [
        "payment_method (支付方式)",
        "created_at (下单日期)",
        "amount (金额)",
    ]


# ---- amounts, dates, encodings, wide files -----------------------------------------------


def test_amounts_with_currency_signs_and_separators_load_and_nonsense_does_not(tmp_path):
    f = tmp_path / "orders_2025-03-15.csv"
    f.write_text(
        "order_id,customer_id,created_at,channel,payment_method,amount\n"
        "a,c,2025-03-15T01:00:00Z,direct,prepaid,$11.77\n"
        'b,c,2025-03-15T01:00:00Z,direct,prepaid,"¥1,234.50"\n'
        'c,c,2025-03-15T01:00:00Z,direct,prepaid,"1,234.50"\n'
        "d,c,2025-03-15T01:00:00Z,direct,prepaid,USD 7\n"
        "e,c,2025-03-15T01:00:00Z,direct,prepaid,88.00元\n"
        "f,c,2025-03-15T01:00:00Z,direct,prepaid,12x\n"
        'g,c,2025-03-15T01:00:00Z,direct,prepaid,"1,2,3"\n'
        "h,c,2025-03-15T01:00:00Z,direct,prepaid,-$3.00\n",
        encoding="utf-8",
    )
    # no mapping at all: the campaign and reviewed_at columns are absent and null
    checked = validate_file(f, "orders", SourceConfig("orders", "UTC"), "Asia/Shanghai")
    assert dict(checked.good.select("order_id", "amount").rows()) == {
        "a": 11.77, "b": 1234.5, "c": 1234.5, "d": 7.0, "e": 88.0,
    }  # fmt: skip
    assert checked.good["campaign"].null_count() == checked.good.height == 5
    assert checked.bad.select("row_number", "check", "value").rows() == [
        (6, "dtype(Float64)", "12x"),
        (7, "dtype(Float64)", "1,2,3"),
        (8, "greater_than_or_equal_to(0)", "-3.0"),
    ]
    # a decimal comma where the source declares one, with a semicolon-separated file
    g = tmp_path / "ad_spend_2025-03-15.csv"
    g.write_text(
        "Tag;Kampagne;Impressionen;Klicks;Kosten\n"
        '15.03.2025;Marke;1.204;41;"1.234,50 €"\n'
        "15.03.2025;Suche;410;52;54,2\n",
        encoding="utf-8",
    )
    conf = source_config(
        "ad_spend",
        {
            "delimiter": ";",
            "decimal": ",",
            "columns": {"Tag": "date", "Kampagne": "campaign", "Impressionen": "impressions",
                        "Klicks": "clicks", "Kosten": "spend"},
            "dates": {"date": "%d.%m.%Y"},
            "constants": {"channel": "paid_search"},
        },
    )  # fmt: skip
    spend = validate_file(g, "ad_spend", conf, "Europe/Berlin")
    assert spend.good.select("date", "impressions", "spend").rows() == [
        (dt.date(2025, 3, 15), 1204, 1234.5),
        (dt.date(2025, 3, 15), 410, 54.2),
    ]


def test_a_declared_datetime_format_is_read_in_the_sources_zone(tmp_path):
    f = tmp_path / "orders_2025-03-15.csv"
    f.write_text(
        "no,buyer,when,pay,total\n1,c1,2025/03/15 07:30,cod,10\n2,c2,2025/03/15 08:05,cod,20\n",
        encoding="utf-8",
    )
    conf = source_config(
        "orders",
        {
            "timezone": "Asia/Shanghai",
            "columns": {"no": "order_id", "buyer": "customer_id", "when": "created_at",
                        "pay": "payment_method", "total": "amount"},
            "dates": {"created_at": "%Y/%m/%d %H:%M"},
            "constants": {"channel": "organic"},
        },
    )  # fmt: skip
    checked = validate_file(f, "orders", conf, "Asia/Shanghai")
    assert checked.good.select("created_at", "business_date").rows() == [
        (dt.datetime(2025, 3, 14, 23, 30), dt.date(2025, 3, 15)),
        (dt.datetime(2025, 3, 15, 0, 5), dt.date(2025, 3, 15)),
    ]


def _orders_written(tmp_path: Path, when: str, section: dict) -> SourceConfig:
    (tmp_path / "orders_2025-03-15.csv").write_text(
        f"no,buyer,when,pay,total\n1,c1,{when},cod,10\n", encoding="utf-8"
    )
    columns = {"no": "order_id", "buyer": "customer_id", "when": "created_at",
               "pay": "payment_method", "total": "amount"}  # fmt: skip
    full = {"columns": columns, "constants": {"channel": "organic"}, **section}
    return source_config("orders", full, "America/New_York")


@pytest.mark.parametrize(
    ("when", "section", "created_at", "assumed"),
    [
        # a date in a declared format without a time: the business day, in the business zone
        # (New York, UTC-4 in March), whatever zone the source declares or not
        ("20250315", {"dates": {"created_at": "%Y%m%d"}}, dt.datetime(2025, 3, 15, 4), ()),
        ("20250315", {"dates": {"created_at": "%Y%m%d"}, "timezone": "UTC"},
         dt.datetime(2025, 3, 15, 4), ()),
        ("15/03/2025", {"dates": {"created_at": "%d/%m/%Y"}, "timezone": "Asia/Shanghai"},
         dt.datetime(2025, 3, 15, 4), ()),
        # a time without an offset: the declared zone, else the business zone, and said so
        ("20250315 23:30", {"dates": {"created_at": "%Y%m%d %H:%M"}},
         dt.datetime(2025, 3, 16, 3, 30), ("created_at",)),
        ("20250315 23:30", {"dates": {"created_at": "%Y%m%d %H:%M"}, "timezone": "UTC"},
         dt.datetime(2025, 3, 15, 23, 30), ()),
        # an offset in the format: the instant it says, no zone assumed
        ("20250315 23:30 -0400", {"dates": {"created_at": "%Y%m%d %H:%M %z"}},
         dt.datetime(2025, 3, 16, 3, 30), ()),
    ],
)  # fmt: skip
def test_a_declared_format_without_a_time_gives_business_days_in_the_business_zone(
    tmp_path, when, section, created_at, assumed
):
    conf = _orders_written(tmp_path, when, section)
    checked = validate_file(tmp_path / "orders_2025-03-15.csv", "orders", conf, "America/New_York")
    assert checked.good.select("created_at", "business_date").rows() == [
        (created_at, dt.date(2025, 3, 15))
    ]
    assert checked.zone_assumed == assumed


@pytest.mark.parametrize(
    ("fmt", "with_time"),
    [("%Y%m%d", False), ("%d.%m.%Y", False), ("%b %d, %Y", False), ("%Y年%m月%d日", False),
     ("%Y/%m/%d %H:%M", True), ("%m/%d/%Y %I:%M %p", True), ("%Y%m%d%H%M%S", True),
     ("%Y-%m-%dT%H:%M:%S%z", True), ("%Y-%m-%d %T", True)],
)  # fmt: skip
def test_a_format_writes_a_time_when_it_has_a_directive_of_one(fmt, with_time):
    assert has_time(fmt) is with_time


@pytest.mark.parametrize(("preset", "path"), [("shopify", SHOPIFY), ("taobao", TAOBAO_ORDERS)])
def test_a_presets_timestamps_are_read_in_no_assumed_zone(preset, path):
    """Shopify writes offsets, Taobao's preset declares Beijing time: neither is read in a
    zone the shop did not declare, whatever its business zone."""
    conf = source_config("orders", {"preset": preset}, "America/New_York")
    checked = validate_file(path, "orders", conf, "America/New_York")
    assert checked.good.height and checked.zone_assumed == ()


def test_an_unparsed_date_column_says_which_format_would_parse_it(tmp_path):
    f = tmp_path / "orders_2025-03-15.csv"
    f.write_text(
        "order_id,customer_id,created_at,channel,payment_method,amount\n"
        + "".join(f"o{i},c,202503{i:02d},direct,prepaid,1\n" for i in range(1, 6)),
        encoding="utf-8",
    )
    with pytest.raises(SchemaMismatch) as err:
        validate_file(f, "orders", SourceConfig("orders", "UTC"), "Asia/Shanghai", "x.csv")
    assert err.value.column == "created_at"
    assert "5 of them parse with the format %Y%m%d" in str(err.value)
    assert "dates: {created_at: '%Y%m%d'}" in str(err.value)


def test_a_file_in_another_encoding_names_the_likely_one(tmp_path):
    f = tmp_path / "orders_2025-03-15.csv"
    f.write_bytes(
        "order_id,customer_id,created_at,channel,payment_method,amount\n"
        "订单1,客户甲,2025-03-15T01:00:00Z,direct,prepaid,1\n".encode("gbk")
    )
    with pytest.raises(SchemaMismatch) as err:
        validate_file(f, "orders", SourceConfig("orders", "UTC"), "Asia/Shanghai", "x.csv")
    assert "is not utf-8 text" in str(err.value) and "encoding: gb18030" in str(err.value)
    conf = source_config("orders", {"encoding": "gb18030"})
    assert validate_file(f, "orders", conf, "Asia/Shanghai").good["customer_id"][0] == "客户甲"
    # a UTF-8 file that GB18030 reads without an error, as nonsense ("José" as "Jos茅"): said
    f.write_text(
        "order_id,customer_id,created_at,channel,payment_method,amount\n"
        "o1,José,2025-03-15T01:00:00Z,direct,prepaid,1\n",
        encoding="utf-8",
    )
    assert "José".encode().decode("gb18030") != "José"
    with pytest.raises(SchemaMismatch) as err:
        validate_file(f, "orders", conf, "Asia/Shanghai", "x.csv")
    assert "is not gb18030 text (it is UTF-8 text)" in str(err.value)
    assert "encoding: utf-8" in str(err.value)


def test_a_wide_report_is_made_long_one_row_per_channel(tmp_path):
    f = tmp_path / "ad_spend_2025-03-15.csv"
    f.write_text(
        "day,campaign,search_cost,search_imps,search_clicks,feed_cost,feed_imps,feed_clicks\n"
        "2025-03-14,spring,100.50,1000,40,80.00,5000,25\n"
        "2025-03-15,spring,90.00,900,30,,4000,20\n",
        encoding="utf-8",
    )
    conf = source_config(
        "ad_spend",
        {
            "columns": {"day": "date"},
            "unpivot": {
                "name": "channel",
                "columns": {
                    "paid_search": {"spend": "search_cost", "impressions": "search_imps",
                                    "clicks": "search_clicks"},
                    "feed_ads": {"spend": "feed_cost", "impressions": "feed_imps",
                                 "clicks": "feed_clicks"},
                },
            },
        },
    )  # fmt: skip
    checked = validate_file(f, "ad_spend", conf, "Asia/Shanghai")
    assert checked.rows_in == 2  # rows of the file, not cells
    assert checked.good.select("_row", "date", "channel", "spend", "impressions").rows() == [
        (1, dt.date(2025, 3, 14), "paid_search", 100.5, 1000),
        (1, dt.date(2025, 3, 14), "feed_ads", 80.0, 5000),
    ]
    # the blank feed cost of row 2 quarantines the file's row 2, named by the file's column
    assert checked.bad.select("row_number", "column", "check").rows() == [
        (2, "spend", "not_nullable")
    ]


# ---- the config ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "place"),
    [
        ("orders:\n    constnts: {channel: direct}", "sources.orders.constnts"),
        ("orders:\n    constants: {chanel: direct}", "sources.orders.constants.chanel"),
        ("orders:\n    preset: shopfy", "sources.orders.preset"),
        ("ad_spend:\n    preset: shopify", "sources.ad_spend.preset"),
        ("orders:\n    grain: week", "sources.orders.grain"),
        ("ad_spend:\n    grain: fortnight", "sources.ad_spend.grain"),
        ("orders:\n    dates: {amount: '%Y'}", "sources.orders.dates.amount"),
        ("order_items:\n    dates: {line_no: '%Y'}", "sources.order_items.dates"),
        ("orders:\n    ids: {order_id: rows}", "sources.orders.ids.order_id"),
        ("orders:\n    computed: {amount: 'quantity *'}", "sources.orders.computed.amount"),
        ("orders:\n    computed: {amount: 'price * 2'}", "sources.orders.computed.amount"),
        ("orders:\n    columns: {Total: amount}\n    constants: {amount: 1}",
         "sources.orders.constants.amount"),
        ("orders:\n    decimal: ';'", "sources.orders.decimal"),
        ("orders:\n    delimiter: '||'", "sources.orders.delimiter"),
        ("orders:\n    encoding: klingon", "sources.orders.encoding"),
        ("ad_spend:\n    unpivot: {name: channel, columns: {social: Meta}}",
         "sources.ad_spend.unpivot.value"),
        ("ad_spend:\n    unpivot: {name: channel, value: spend, colums: {social: Meta}}",
         "sources.ad_spend.unpivot.colums"),
        ("orders:\n    preset: shopify\n    first_row_per: order_no",
         "sources.orders.first_row_per"),
    ],
)  # fmt: skip
def test_a_wrong_mapping_is_refused_by_name_and_place(tmp_path, monkeypatch, section, place):
    configure(tmp_path, monkeypatch, f"sources:\n  {section}\n")
    with pytest.raises(ConfigError) as err:
        load_settings()
    places = {line.split(": ")[1] for line in str(err.value).splitlines()}
    assert place in places, str(err.value)
    if place.endswith(("constnts", "colums")):  # an unknown key lists the keys it could be
        assert "the keys here:" in str(err.value)


def test_a_preset_is_overridden_key_by_key():
    shopify = presets()["shopify"].sources["orders"]
    merged = merge_preset(
        shopify,
        {
            "constants": {"channel": "organic"},  # replaces the preset's constant
            "columns": {"Total": "amount", "Created at": None},  # Total for Subtotal; one less
            "skip": {"Financial Status": ["voided", "refunded"]},
            "timezone": "UTC",
        },
    )
    assert merged["constants"] == {"channel": "organic"}
    assert merged["columns"] == {
        "Name": "order_id",
        "Email": "customer_id",
        "Payment Method": "payment_method",
        "Total": "amount",
    }
    assert merged["skip"] == {"Financial Status": ["voided", "refunded"]}
    assert merged["first_row_per"] == "order_id" and merged["timezone"] == "UTC"
    # a column given a constant is no longer mapped from the file, and the other way round
    again = merge_preset(shopify, {"constants": {"amount": 0}, "columns": {"Src": "channel"}})
    assert "Subtotal" not in again["columns"] and "channel" not in again["constants"]


@pytest.mark.parametrize("name", sorted(presets()))
def test_every_preset_is_a_valid_mapping_and_cites_its_sources(name):
    preset = presets()[name]
    text = (Path(__file__).parent.parent / "pipelines/ingest/presets" / f"{name}.yaml").read_text()
    assert "http" in text or "Source" in text  # where its column list came from
    for source, section in preset.sources.items():
        conf = source_config(source, section)  # the section as kpi.yaml would give it
        assert conf.mapping is not None and conf.mapping.needs_mapping


# ---- a file that needs no mapping --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_file_needing_no_mapping_gives_the_same_rows_either_way(tmp_path, fmt):
    """The sample shop's files, faults and all, read as they are and read through the mapping
    (forced by a setting that changes nothing): the same good rows and the same quarantine."""
    manifest = generate_shop(
        tmp_path / "landing",
        dt.date(2025, 3, 1),
        2,
        orders_per_day=40,
        seed=5,
        faults={"bad_type": 3, "missing_value": 3, "negative_amount": 2, "duplicate_key": 2},
        formats=fmt,
    )
    for entry in manifest["files"]:
        path = tmp_path / "landing" / entry["file"]
        source = entry["source"]
        spec_zone = load_settings(tmp_path).source(source).timezone
        plain = validate_file(path, source, SourceConfig(source, spec_zone), "Asia/Shanghai")
        forced = source_config(source, {"encoding": "utf-8-sig"})
        assert forced.mapping is not None and forced.mapping.needs_mapping
        mapped = validate_file(path, source, forced, "Asia/Shanghai")
        assert_frame_equal(mapped.good, plain.good)
        assert_frame_equal(mapped.bad, plain.bad)
        assert mapped.rows_in == plain.rows_in


def test_a_loader_of_a_source_reads_the_folder_its_mapping_names(tmp_path, monkeypatch):
    data = configure(
        tmp_path,
        monkeypatch,
        "sources:\n  orders: {preset: shopify}\n  order_items: {preset: shopify}\n",
    )
    land(data, "orders", SHOPIFY)
    land(data, "order_items", SHOPIFY)  # a copy in its own folder is not read
    settings = load_settings()
    settings.warehouse_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.build_db)) as con:
        ensure_tables(con, SOURCES)
        with DayLoader(con, settings, "order_items") as loader:
            result = loader.load(dt.date(2025, 3, 14))
    assert [f.file for f in result.files] == [f"orders/{SHOPIFY.name}"]


# ---- a real run ----------------------------------------------------------------------------


@pytest.mark.slow  # a real Dagster run: ingestion and dbt's staging models
def test_a_run_takes_the_exports_through_ingestion_to_staging(tmp_path, monkeypatch):
    """One Shopify export feeding orders and their lines, and a weekly Meta report spread over
    its days, through a real Dagster run of ingestion and dbt staging: the staging models hold
    the orders and lines of the export and each week's days, flagged, adding up to the week."""
    import dagster as dg

    from pipelines.definitions import build_defs
    from pipelines.runner import run_nightly

    data = configure(
        tmp_path,
        monkeypatch,
        "business_timezone: America/New_York\npartitions_start: '2025-03-01'\n"
        "sources:\n  orders: {preset: shopify}\n  order_items: {preset: shopify}\n"
        "  ad_spend: {preset: meta_ads, grain: week}\n",
    )
    land(data, "orders", SHOPIFY)
    land(data, "ad_spend", META_WEEKLY)
    selection = [
        dg.AssetKey(["raw", source]) for source in ("orders", "order_items", "ad_spend")
    ] + [
        dg.AssetKey(["staging", f"stg_shop__{source}"])
        for source in ("orders", "order_items", "ad_spend")
    ]
    with dg.DagsterInstance.ephemeral() as instance:
        outcome = run_nightly(
            build_defs(data),
            dt.date(2025, 3, 14),
            dt.date(2025, 3, 17),
            instance,
            log_level="WARNING",
            asset_selection=selection,
        )
    assert outcome.success, outcome.error
    with duckdb.connect(str(load_settings().build_db), read_only=True) as con:
        assert rows(
            con,
            "select count(*), sum(amount), min(business_date), max(business_date) "
            "from staging.stg_shop__orders",
        ) == [(6, Decimal("272.55"), dt.date(2025, 3, 13), dt.date(2025, 3, 14))]
        assert rows(
            con, "select count(*), sum(line_amount) from staging.stg_shop__order_items"
        ) == [
            (12, Decimal("302.55"))
        ]  # 32 + 20 + 25 + 34.90 + 29.85 + 25 + 20 + 25 + 19.90 + 16 + 34.90 + 20
        weeks = rows(
            con,
            "select date_trunc('week', business_date)::date, count(*), sum(spend), "
            "sum(impressions), count(*) filter (where spread_from = 'week') "
            "from staging.stg_shop__ad_spend group by 1 order by 1",
        )
    by_week: dict[dt.date, list] = {}
    for (_, start), (impressions, _, spend) in META_WEEKS.items():
        total = by_week.setdefault(start, [0, Decimal(0)])
        total[0] += impressions
        total[1] += Decimal(spend)
    assert weeks == [
        (start, 7 * sum(1 for _, s in META_WEEKS if s == start), spend, impressions,
         7 * sum(1 for _, s in META_WEEKS if s == start))
        for start, (impressions, spend) in sorted(by_week.items())
    ]  # fmt: skip


def test_a_warehouse_built_before_the_mapping_gets_its_new_columns_and_keeps_its_rows(tmp_path):
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    ensure_tables(con, SOURCES)
    # as a warehouse of the previous release: no spread_from, no file_column
    con.execute("alter table raw.ad_spend drop column spread_from")
    con.execute(f"alter table {QUARANTINE} drop column file_column")
    con.execute(
        "insert into raw.ad_spend values ('2025-03-01', 'social', 'c', 10, 1, 2.5, "
        "'2025-03-01', '2025-03-01', 'ad_spend/a.csv', 1, now(), null)"
    )
    ensure_tables(con, SOURCES)
    assert rows(con, "select campaign, spread_from from raw.ad_spend") == [("c", None)]
    assert rows(
        con,
        "select column_name from information_schema.columns where table_name = '_quarantine' "
        "order by ordinal_position desc limit 1",
    ) == [("file_column",)]


@pytest.mark.parametrize(
    ("mapping", "en", "zh"),
    [
        ({"skip": {"Status": ["void"]}}, "skip names 'Status', which the file does not have",
         "skip 指定的“Status”列文件中没有"),
        ({"ids": {"campaign": {"number_within": "Store"}}},
         "ids.campaign numbers rows within 'Store', which the file does not have",
         "ids.campaign 在“Store”列内给行编号，但文件中没有这一列"),
        ({"ids": {"order_id": ["shop", "customer_id"]}},
         "ids.order_id is made of 'shop', which the file",
         "ids.order_id 由“shop”列组成，但文件中没有这一列"),
    ],
)  # fmt: skip
def test_a_mapping_naming_a_column_the_file_lacks_is_said_in_the_shops_language(
    tmp_path, mapping, en, zh
):
    """Each problem a mapping has with a file, with the file's columns to choose from, in the
    language `kpi check` speaks (the sentence is the catalogue's, not built from pieces)."""
    from pipelines import i18n
    from pipelines.ingest.validate import FileProblem

    f = tmp_path / "orders_2025-03-15.csv"
    f.write_text(
        "order_id,customer_id,created_at,channel,payment_method,amount\n"
        "o1,c1,2025-03-15 09:30:00,direct,prepaid,10\n",
        encoding="utf-8",
    )
    conf = source_config("orders", mapping)
    said = {}
    for locale in ("en_US", "zh_CN"):
        problems: list[FileProblem] = []
        with i18n.use(locale):
            validate_file(f, "orders", conf, "Asia/Shanghai", str(f), problems=problems)
        assert [p.kind for p in problems] == ["mapping"]
        said[locale] = problems[0].problem
    assert en in said["en_US"] and "'order_id', 'customer_id'" in said["en_US"]
    assert zh in said["zh_CN"] and "'order_id', 'customer_id'" in said["zh_CN"]
    assert "which the file does not have" not in said["zh_CN"]
    with pytest.raises(SchemaMismatch, match=en):  # a run stops at it, in English
        validate_file(f, "orders", conf, "Asia/Shanghai")


def test_an_unpivot_reading_columns_the_file_lacks_names_them_in_the_shops_language(tmp_path):
    from pipelines import i18n

    f = tmp_path / "ad_spend_2025-03-15.csv"
    f.write_text("date,campaign,search_cost\n2025-03-14,spring,1.0\n", encoding="utf-8")
    conf = source_config(
        "ad_spend",
        {"unpivot": {"name": "channel", "value": "spend",
                     "columns": {"paid_search": "search_cost", "feed_ads": "feed_cost"}}},
    )  # fmt: skip
    with pytest.raises(SchemaMismatch, match=r"unpivot reads \['feed_cost'\], which the file"):
        validate_file(f, "ad_spend", conf, "Asia/Shanghai")
    with i18n.use("zh_CN"), pytest.raises(SchemaMismatch, match=r"unpivot 读取的 \['feed_cost'\]"):
        validate_file(f, "ad_spend", conf, "Asia/Shanghai")


def test_a_mapped_file_named_with_brackets_is_read_as_named(tmp_path):
    # polars reads "[1]" in a path as a pattern unless told not to: a browser's second
    # download of a report ("…[1].csv") must read like the first
    f = tmp_path / "ad_spend_2025-03-15[1].csv"
    f.write_text("Tag;Kosten\n15.03.2025;54,2\n16.03.2025;7\n", encoding="utf-8")
    conf = source_config(
        "ad_spend",
        {
            "delimiter": ";",
            "decimal": ",",
            "columns": {"Tag": "date", "Kosten": "spend"},
            "dates": {"date": "%d.%m.%Y"},
            "constants": {"channel": "paid_search", "campaign": "all", "impressions": 0,
                          "clicks": 0},
        },
    )  # fmt: skip
    spend = validate_file(f, "ad_spend", conf, "Europe/Berlin")
    assert spend.bad.height == 0
    assert spend.good.select("date", "spend").rows() == [
        (dt.date(2025, 3, 15), 54.2),
        (dt.date(2025, 3, 16), 7.0),
    ]
