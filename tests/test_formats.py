"""One formatter of KPI values (kpi_tree/formats.py), by Babel in the shop's currency and
locale: each unit's format in zh_CN and en_US, written out by hand."""

from __future__ import annotations

import math

import pytest

from kpi_tree.formats import (
    MISSING,
    UNIT_FORMATS,
    Formats,
    board_rules,
)
from kpi_tree.model import UNITS

ZH_CNY = Formats("CNY", "zh_CN")  # the default shop
EN_USD = Formats("USD", "en_US")


def test_the_default_is_a_chinese_shop():
    assert Formats() == ZH_CNY


@pytest.mark.parametrize(
    ("value", "unit", "zh_cny", "en_usd"),
    [
        (1234567.4, "money", "¥1,234,567", "$1,234,567"),
        (76109.4, "money", "¥76,109", "$76,109"),
        (100, "money", "¥100", "$100"),
        (99.5, "money", "¥99.50", "$99.50"),  # under 100: to the cent
        (12.345, "money", "¥12.35", "$12.35"),  # half away from zero, as written
        (-1234.5, "money", "-¥1,235", "-$1,235"),
        (-0.004, "money", "¥0.00", "$0.00"),  # no sign on a value that rounds to nothing
        (0, "money", "¥0.00", "$0.00"),
        (1234567, "count", "1,234,567", "1,234,567"),
        (2.5, "count", "3", "3"),
        (0.5, "count", "1", "1"),
        (0.0327, "ratio", "3.27%", "3.27%"),
        (0.12345, "ratio", "12.35%", "12.35%"),  # Babel alone would round half to even
        (1, "ratio", "100.00%", "100.00%"),
        (0.000049, "ratio", "0.00%", "0.00%"),
        (3.456, "multiple", "3.46×", "3.46×"),
        (1.005, "multiple", "1.01×", "1.01×"),  # 1.005 is written 1.005: it rounds up
        (14.25, "seconds", "14.3秒", "14.3 sec"),
        (1234.5, "seconds", "1,234.5秒", "1,234.5 sec"),
        (90, "minutes", "90.0分钟", "90.0 min"),
        (2.45, "days", "2.5天", "2.5 days"),
        (1, "days", "1.0天", "1.0 days"),  # one, written with a decimal: CLDR's "other"
    ],
)
def test_each_unit_in_zh_cn_and_en_us(value, unit, zh_cny, en_usd):
    assert ZH_CNY.value(value, unit) == zh_cny
    assert EN_USD.value(value, unit) == en_usd


def test_the_currency_symbol_is_the_locales():
    # CLDR: in an English locale yuan are CN¥ (¥ is the yen); in a Chinese one dollars are US$
    assert Formats("CNY", "en_US").value(76109.4, "money") == "CN¥76,109"
    assert Formats("USD", "zh_CN").value(76109.4, "money") == "US$76,109"
    assert Formats("EUR", "en_US").money(1234.5) == "€1,234.50"
    # a currency without cents: the small amounts and the money to the minor unit, too
    yen = Formats("JPY", "en_US")
    assert (yen.value(12.5, "money"), yen.money(1234.5)) == ("¥13", "¥1,235")


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf])
def test_a_missing_value_is_a_dash_in_every_unit(missing):
    assert MISSING == "–"
    assert {ZH_CNY.value(missing, unit) for unit in UNITS} == {MISSING}


def test_shares_and_money():
    assert ZH_CNY.share(0.9534) == "95.3%"
    assert ZH_CNY.share(0.047, signed=True) == "+4.7%"
    assert EN_USD.share(-0.047, signed=True) == "-4.7%"
    assert ZH_CNY.share(0.0004, signed=True) == "0.0%"
    assert ZH_CNY.share(None) == MISSING
    assert ZH_CNY.money(5_000_000) == "¥5,000,000.00"
    assert ZH_CNY.money(1234.005) == "¥1,234.01"
    assert EN_USD.money(5_000_000) == "$5,000,000.00"


def test_an_unknown_currency_or_locale_is_refused():
    with pytest.raises(ValueError, match="unknown currency 'XYZ'"):
        Formats("XYZ", "en_US")
    with pytest.raises(ValueError, match="unknown locale 'fr_FR'"):
        Formats("EUR", "fr_FR")


def test_the_rules_are_babels_patterns_as_plain_data():
    """What the board's script applies: the symbol before or after the number, positive and
    negative, from Babel's pattern for the currency and locale."""
    assert set(UNIT_FORMATS) == set(UNITS)
    rules = board_rules("USD")
    assert set(rules) == {"en", "zh"}
    en, zh = rules["en"], rules["zh"]
    assert set(en["units"]) == set(UNITS) and en["missing"] == MISSING
    assert (en["locale"], en["group"], en["decimal"], en["plus"]) == ("en_US", ",", ".", "+")
    assert en["units"]["money"] == {
        "decimals": 0,
        "small_below": 100,
        "small_decimals": 2,
        "scale": 1,
        "prefix": ["$", "-$"],
        "suffix": ["", ""],
        "grouping": [3, 3],
    }
    assert zh["units"]["money"]["prefix"] == ["US$", "-US$"]
    assert (en["units"]["ratio"]["suffix"], en["units"]["ratio"]["scale"]) == (["%", "%"], 100)
    assert en["units"]["days"]["suffix"] == [" days", " days"]
    assert zh["units"]["days"]["suffix"] == ["天", "天"]
    assert board_rules("CNY")["zh"]["units"]["money"]["prefix"] == ["¥", "-¥"]


@pytest.mark.parametrize(
    ("value", "unit", "zh_cny", "en_usd"),
    [
        (856234.5, "money", "¥85.6万", "$856K"),
        (12345, "money", "¥1.23万", "$12.3K"),
        (120000, "money", "¥12万", "$120K"),  # trailing zeros dropped
        (12345678, "money", "¥1235万", "$12.3M"),  # Chinese counts in 万 up to 亿
        (123456789, "money", "¥1.23亿", "$123M"),
        (99_999_500, "money", "¥1亿", "$100M"),  # rounded up into the next magnitude
        (99_995, "money", "¥10万", "$100K"),
        (-856234.5, "money", "-¥85.6万", "-$856K"),
        (9999.4, "money", "¥9,999", "$10K"),  # Chinese has no compact thousands
        (99.5, "money", "¥99.50", "$99.50"),  # small amounts as value() writes them
        (1234, "count", "1,234", "1.23K"),
        (999_950, "count", "100万", "1M"),
        (3e9, "count", "30亿", "3B"),
        (0.0327, "ratio", "3.27%", "3.27%"),  # units without magnitudes: as value()
        (None, "money", MISSING, MISSING),
    ],
)
def test_the_compact_form_in_zh_cn_and_en_us(value, unit, zh_cny, en_usd):
    assert ZH_CNY.compact(value, unit) == zh_cny
    assert EN_USD.compact(value, unit) == en_usd


def test_the_compact_rules_for_the_board():
    zh = board_rules("CNY")["zh"]
    assert set(zh["compact"]) == {"money", "count"} and zh["compact_digits"] == 3
    first, *_ = zh["compact"]["money"]
    assert first == {"from": 10000, "exponent": 4, "prefix": ["¥", "-¥"], "suffix": ["万", "万"]}
    assert [s["suffix"][0] for s in zh["compact"]["count"]][4] == "亿"
    assert board_rules("USD")["en"]["compact"]["money"][3]["suffix"] == ["M", "M"]
