"""One formatter of KPI values (kpi_tree/formats.py): each unit's format, written out by hand."""

from __future__ import annotations

import math

import pytest

from kpi_tree.formats import (
    MISSING,
    UNIT_FORMATS,
    format_money,
    format_rules,
    format_share,
    format_value,
)
from kpi_tree.model import UNITS


@pytest.mark.parametrize(
    ("value", "unit", "written"),
    [
        (1234567.4, "yuan", "¥1,234,567"),
        (100, "yuan", "¥100"),
        (99.5, "yuan", "¥99.50"),
        (12.345, "yuan", "¥12.35"),  # half away from zero, as written
        (-1234.5, "yuan", "-¥1,235"),
        (-0.004, "yuan", "¥0.00"),  # no sign on a value that rounds to nothing
        (0, "yuan", "¥0.00"),
        (1234567, "count", "1,234,567"),
        (2.5, "count", "3"),
        (0.5, "count", "1"),
        (0.0327, "ratio", "3.27 %"),
        (0.12345, "ratio", "12.35 %"),
        (1, "ratio", "100.00 %"),
        (0.000049, "ratio", "0.00 %"),
        (3.456, "multiple", "3.46×"),
        (1.005, "multiple", "1.01×"),  # 1.005 is written 1.005: it rounds up
        (14.25, "seconds", "14.3 s"),
        (1234.5, "seconds", "1,234.5 s"),
        (90, "minutes", "90.0 min"),
        (2.45, "days", "2.5 d"),
    ],
)
def test_each_unit_is_written_as_the_cli_and_the_board_write_it(value, unit, written):
    assert format_value(value, unit) == written


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf])
def test_a_missing_value_is_a_dash_in_every_unit(missing):
    assert MISSING == "–"
    assert {format_value(missing, unit) for unit in UNITS} == {MISSING}


def test_shares_and_money():
    assert format_share(0.9534) == "95.3 %"
    assert format_share(0.047, signed=True) == "+4.7 %"
    assert format_share(-0.047, signed=True) == "-4.7 %"
    assert format_share(0.0004, signed=True) == "0.0 %"
    assert format_share(None) == MISSING
    assert format_money(5_000_000) == "¥5,000,000.00"
    assert format_money(1234.005) == "¥1,234.01"


def test_every_unit_of_the_tree_has_a_rule_and_the_rules_are_plain_data():
    assert set(UNIT_FORMATS) == set(UNITS)
    rules = format_rules()
    assert set(rules["units"]) == set(UNITS)
    assert rules["units"]["yuan"] == {
        "decimals": 0,
        "prefix": "¥",
        "suffix": "",
        "scale": 1,
        "small_below": 100,
        "small_decimals": 2,
    }
    assert rules["missing"] == MISSING
