"""The shop's vocabulary (kpi_tree/vocabulary.py, kpi.yaml `vocabulary:`): its members reach
the ingestion contracts, where an unknown member is quarantined or mapped as the config says,
loaded into a real build warehouse; the config is checked by place."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from kpi_tree.vocabulary import DEFAULT_VOCABULARY, ColumnMembers
from pipelines.ingest.contracts import SOURCE_SPECS, SOURCES
from pipelines.ingest.load import QUARANTINE, RAW_SCHEMA, ensure_tables, load_day
from pipelines.settings import ConfigError, load_settings
from pipelines.transform.assets import dbt_vars

DAY = dt.date(2025, 3, 1)
#: a shop that buys TV, outdoor and print besides the defaults' paid channels
TV_CHANNELS = """
vocabulary:
  channels:
    members:
      paid_search: {en: paid search, zh: 付费搜索, paid: true}
      feed_ads: {paid: true}
      social: {paid: true}
      tv: {en: TV, zh: 电视, paid: true}
      outdoor: {en: outdoor, zh: 户外广告, paid: true}
      print: {en: print, zh: 平面广告, paid: true}
      organic:
      direct: {}
"""
AD_SPEND = "date,channel,campaign,impressions,clicks,spend\n"
ORDERS = "order_id,customer_id,created_at,channel,campaign,payment_method,amount,reviewed_at\n"


def test_the_default_vocabulary_is_the_sample_shops():
    v = DEFAULT_VOCABULARY
    assert v.channels.names == ("paid_search", "feed_ads", "social", "organic", "direct")
    assert v.paid_channels == ("paid_search", "feed_ads", "social")
    assert v.payment_methods.names == ("prepaid", "cod") and v.cod_payment_methods == ("cod",)
    assert v.carriers.names == ("sf_express", "zto", "yto", "jd_logistics", "ems")
    assert v.topics.names == ("presale", "aftersale", "order_review")
    assert [v.topics_in_role(r) for r in ("presale", "aftersale", "order_review")] == [
        ("presale",),
        ("aftersale",),
        ("order_review",),
    ]
    assert v.label("channel", "paid_search", "zh") == "付费搜索"
    assert v.label("payment_method", "cod", "en") == "cash on delivery"
    assert v.label("campaign", "spring_sale", "zh") == "spring_sale"  # no list: as it is


def _settings(tmp_path: Path, monkeypatch, text: str):
    config = tmp_path / "kpi.yaml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("KPI_CONFIG", str(config))
    return load_settings(tmp_path / "data")


def test_a_configured_vocabulary_reaches_the_sources_and_dbt(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch, TV_CHANNELS)
    channels = settings.vocabulary.channels
    assert channels.names == (
        "paid_search", "feed_ads", "social", "tv", "outdoor", "print", "organic", "direct"
    )  # fmt: skip
    assert settings.vocabulary.label("channel", "tv", "zh") == "电视"
    assert settings.vocabulary.label("channel", "organic", "zh") == "organic"  # no label
    (ad_channel,) = settings.source("ad_spend").members
    assert (ad_channel.column, ad_channel.allowed, ad_channel.map_to) == (
        "channel",
        ("paid_search", "feed_ads", "social", "tv", "outdoor", "print"),
        None,
    )
    orders = {m.column: m.allowed for m in settings.source("orders").members}
    assert orders == {"channel": channels.names, "payment_method": ("prepaid", "cod")}
    vocabulary = dbt_vars(settings)["kpi_vocabulary"]
    assert vocabulary["paid_channels"] == list(ad_channel.allowed)
    assert vocabulary["topic_roles"]["presale"] == ["presale"]
    # the other lists keep their defaults
    assert settings.vocabulary.carriers == DEFAULT_VOCABULARY.carriers


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("vocabulary: {channels: {members: {tv: {paid: true, cod: true}}}}",
         "vocabulary.channels.members.tv.cod: unknown key: remove it or correct its spelling "
         "(the keys here: en, zh, paid)"),
        ("vocabulary: {channels: {members: {TV: {paid: true}}}}",
         "vocabulary.channels.members.TV: a member is written in lowercase letters"),
        ("vocabulary: {channels: {members: {tv: {}}, unknown: map}}",
         "vocabulary.channels.map_to: is required with unknown: map"),
        ("vocabulary: {channels: {members: {tv: {}}, unknown: map, map_to: other}}",
         "vocabulary.channels.map_to: must be one of the members (tv), not 'other'"),
        ("vocabulary: {topics: {members: {chat: {role: sales}}}}",
         "vocabulary.topics.members.chat.role: must be one of"),
        ("vocabulary: {colours: {}}", "vocabulary.colours: unknown key"),
        ("currency: usd", "currency: unknown currency 'usd': use an ISO 4217 code such as CNY, "
         "USD or EUR; did you mean USD?"),
        ("locale: fr_FR", "locale: must be one of 'zh_CN' or 'en_US'"),
    ],
)  # fmt: skip
def test_a_wrong_vocabulary_or_currency_is_refused_by_place(tmp_path, monkeypatch, text, said):
    with pytest.raises(ConfigError) as err:
        _settings(tmp_path, monkeypatch, text)
    assert f"{tmp_path / 'kpi.yaml'}: {said}" in str(err.value)


def _load(settings, source: str, text: str) -> duckdb.DuckDBPyConnection:
    folder = settings.landing_dir / source
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{source}_{DAY}.csv").write_text(text, encoding="utf-8")
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.build_db))
    ensure_tables(con, SOURCES)
    load_day(con, settings, source, DAY)
    return con


def _quarantined(con) -> list[tuple]:
    return con.execute(
        f"select file, row_number, column_name, check_name, value from {QUARANTINE} "
        "order by row_number"
    ).fetchall()


SPEND_ROWS = (
    "2025-03-01,paid_search,brand,1000,40,64.00\n"
    "2025-03-01,tv,spring_tv,50000,0,12000.00\n"
    "2025-03-01,outdoor,metro,20000,0,3500.50\n"
    "2025-03-01,print,weekly,8000,0,900.00\n"
)


def test_a_tv_spend_report_is_quarantined_by_default(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch, "bad_row_threshold: 0.8\n")
    with _load(settings, "ad_spend", AD_SPEND + SPEND_ROWS) as con:
        rule = "isin(['paid_search', 'feed_ads', 'social'])"
        assert _quarantined(con) == [
            (f"ad_spend/ad_spend_{DAY}.csv", 2, "channel", rule, "tv"),
            (f"ad_spend/ad_spend_{DAY}.csv", 3, "channel", rule, "outdoor"),
            (f"ad_spend/ad_spend_{DAY}.csv", 4, "channel", rule, "print"),
        ]
        assert con.execute(f"select channel from {RAW_SCHEMA}.ad_spend").fetchall() == [
            ("paid_search",)
        ]


def test_a_tv_spend_report_loads_when_the_config_declares_them_paid(tmp_path, monkeypatch):
    settings = _settings(tmp_path, monkeypatch, TV_CHANNELS)
    with _load(settings, "ad_spend", AD_SPEND + SPEND_ROWS) as con:
        assert _quarantined(con) == []
        loaded = con.execute(
            f"select channel, spend from {RAW_SCHEMA}.ad_spend order by _row"
        ).fetchall()
    assert loaded == [("paid_search", 64.0), ("tv", 12000.0), ("outdoor", 3500.5), ("print", 900.0)]


def test_an_unknown_member_is_mapped_where_its_list_says_so(tmp_path, monkeypatch):
    """Channels map what they do not know to `other`; payment methods (the default)
    quarantine it."""
    config = """
vocabulary:
  channels:
    members: {paid_search: {paid: true}, organic: {}, other: {en: other, zh: 其他}}
    unknown: map
    map_to: other
bad_row_threshold: 0.5
"""
    settings = _settings(tmp_path, monkeypatch, config)
    rows = (
        "o1,c1,2025-03-01T01:00:00Z,organic,,prepaid,10.00,\n"
        "o2,c2,2025-03-01T02:00:00Z,tiktok,,prepaid,20.00,\n"
        "o3,c3,2025-03-01T03:00:00Z,,,prepaid,30.00,\n"
        "o4,c4,2025-03-01T04:00:00Z,paid_search,brand,alipay,40.00,\n"
    )
    with _load(settings, "orders", ORDERS + rows) as con:
        loaded = con.execute(
            f"select order_id, channel from {RAW_SCHEMA}.orders order by _row"
        ).fetchall()
        quarantined = _quarantined(con)
    assert loaded == [("o1", "organic"), ("o2", "other")]  # tiktok -> other
    assert quarantined == [
        # a missing channel is not an unknown one: it stays missing, and is refused as such
        (f"orders/orders_{DAY}.csv", 3, "channel", "not_nullable", None),
        (f"orders/orders_{DAY}.csv", 4, "payment_method", "isin(['prepaid', 'cod'])", "alipay"),
    ]


def test_an_ad_spend_report_maps_an_unknown_channel_but_refuses_an_unpaid_one(
    tmp_path, monkeypatch
):
    """In an ad spend report (paid channels only) a channel the shop does not have is mapped,
    and a channel it has but does not pay for is refused as itself."""
    config = """
vocabulary:
  channels:
    members: {paid_search: {paid: true}, organic: {}, other: {paid: true}}
    unknown: map
    map_to: other
bad_row_threshold: 0.5
"""
    settings = _settings(tmp_path, monkeypatch, config)
    rows = (
        "2025-03-01,paid_search,brand,1000,40,64.00\n"
        "2025-03-01,tiktok,spring,5000,90,120.00\n"
        "2025-03-01,organic,seo,0,0,0\n"
    )
    with _load(settings, "ad_spend", AD_SPEND + rows) as con:
        loaded = con.execute(
            f"select channel, spend from {RAW_SCHEMA}.ad_spend order by _row"
        ).fetchall()
        quarantined = _quarantined(con)
    assert loaded == [("paid_search", 64.0), ("other", 120.0)]
    assert quarantined == [
        (f"ad_spend/ad_spend_{DAY}.csv", 3, "channel", "isin(['paid_search', 'other'])", "organic")
    ]


def test_the_contract_of_the_default_vocabulary_is_the_contract_itself():
    """A shop with the default vocabulary validates with the contracts as they are (one class
    per list of members, made once)."""
    for source, spec in SOURCE_SPECS.items():
        members = DEFAULT_VOCABULARY.column_members(spec.members)
        assert spec.contract_for(members) is spec.contract, source
    spec = SOURCE_SPECS["ad_spend"]
    first = spec.contract_for((ColumnMembers("channel", "paid_channels", ("tv",)),))
    again = spec.contract_for((ColumnMembers("channel", "paid_channels", ("tv",)),))
    assert first is again and first is not spec.contract
    assert issubclass(first, spec.contract)


def test_the_gate_expects_only_the_members_the_shop_has(built_shop):
    """Every regular member must be there on the refreshed day: of a list of the vocabulary,
    only a configured one (a channel taken out of kpi.yaml is not missing data)."""
    from expectations.suites import build_gate
    from kpi_tree.model import default_tree
    from kpi_tree.vocabulary import Vocabulary

    channels = {name: {} for name in ("paid_search", "feed_ads", "social", "organic")}
    without_direct = Vocabulary.model_validate({"channels": {"members": channels}})
    with built_shop.connect() as con:
        expected = {
            name: set(
                build_gate(
                    con, default_tree(), "operations", built_shop.end, built_shop.end, v
                ).frames["coverage"]["expected"]
            )
            for name, v in (("default", DEFAULT_VOCABULARY), ("without direct", without_direct))
        }
    direct = {e for e in expected["default"] if e.endswith("by channel = direct")}
    assert direct  # a regular channel of the sample shop
    assert expected["without direct"] == expected["default"] - direct
