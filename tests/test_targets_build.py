"""A whole plan: the example plan with last year's 10M, computed and checked end to end."""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction

import pytest

from kpi_tree.model import default_tree
from kpi_tree.targets.build import compute_plan
from kpi_tree.targets.calendar import days_of_year
from kpi_tree.targets.derive import identity_violations
from kpi_tree.targets.plan import PlanError, load_plan, parse_plan
from kpi_tree.targets.split import by_month, from_cents

TREE = default_tree()
PLAN = load_plan(tree=TREE)
SHAPE = [
    700_000,
    500_000,
    800_000,
    800_000,
    800_000,
    900_000,
    700_000,
    700_000,
    800_000,
    900_000,
    1_400_000,
    1_000_000,
]
HISTORY = {(2025, m): float(v) for m, v in enumerate(SHAPE, start=1)}  # 10M last year
TRAILING = {"gmv": 1_000_000.0, "orders": 5_000.0}  # AOV 200 for the driver planned as null


@pytest.fixture(scope="module")
def result():
    return compute_plan(PLAN, TREE, history=HISTORY, trailing_totals=TRAILING)


def test_the_year_new_business_buffer_and_cap(result):
    assert result.annual.value == pytest.approx(40_000_000)  # max(10M × 4, 38M)
    assert result.annual_cents == 40_000_000_00
    assert (result.base_cents, result.new_business_cents) == (35_000_000_00, 5_000_000_00)
    assert result.months_total_cents == 36_750_000_00  # (1 + 5 %) × 35M, exactly
    assert result.months[11] + result.months[12] <= Fraction(22, 100) * 36_750_000_00
    assert sum(result.upside_months.values()) == 5_000_000_00
    assert all(result.upside_months[m] == 0 for m in range(1, 7))
    assert sum(result.upside_days.values()) == 5_000_000_00
    assert result.drivers["aov"] == 200.0  # the trailing history


def test_days_add_up_to_months_and_the_festival_is_in_february(result):
    assert sorted(result.days) == days_of_year(2026)
    assert {m: v for (_, m), v in by_month(result.days).items()} == result.months
    # last year's festival was in January, this year's is in February (17 Feb 2026)
    assert result.month_weights[1] > SHAPE[0] / 10_000_000
    assert result.month_weights[2] < SHAPE[1] / 10_000_000


def test_rows_hold_the_identities_and_add_up_at_every_grain(result):
    rows = result.rows(TREE)
    by_period = defaultdict(dict)
    for r in rows:
        if r.scope == "all":
            by_period[(r.grain, r.period)][r.kpi] = r.value
    assert by_period[("year", "2026")]["net_revenue"] == 36_750_000.0
    for key, values in by_period.items():
        assert identity_violations(TREE, values) == [], key
    grains = defaultdict(float)
    for (grain, _), values in by_period.items():
        grains[grain] += values["net_revenue"]
    assert all(math.isclose(v, 36_750_000.0, rel_tol=1e-12) for v in grains.values()), grains
    # sessions of the days add up to the year's (derivation is linear in the top target)
    days = sum(v["sessions"] for (g, _), v in by_period.items() if g == "day")
    assert days == pytest.approx(by_period[("year", "2026")]["sessions"], rel=1e-9)


def test_allocations_add_up_with_their_uplift(result):
    regions = result.allocations["regions"]
    for month in range(1, 13):
        total = result.months[month]
        month_of = {
            p: sum(v for d, v in days.items() if d.month == month) for p, days in regions.items()
        }
        assert month_of["region_a"] + month_of["region_b"] == total
        reps = sum(v for p, v in month_of.items() if p.startswith("region_a/"))
        assert reps == round(Fraction(month_of["region_a"]) * Fraction(11, 10))
        assert month_of["region_a/rep_1"] * 3 == pytest.approx(
            month_of["region_a/rep_5"] * 6, abs=6
        )
    rows = [
        r for r in result.rows(TREE) if r.scope == "regions:region_a/rep_1" and r.grain == "year"
    ]
    assert rows[0].value == pytest.approx(36_750_000 * 0.4 * 1.1 * 6 / 22, abs=0.05)
    channels = result.allocations["ad_channels"]
    assert set(channels) == {"search", "feed", "affiliate"}
    assert float(from_cents(sum(sum(d.values()) for d in channels.values()))) == pytest.approx(
        sum(
            r.value
            for r in result.rows(TREE)
            if r.kpi == "ad_clicks" and r.grain == "month" and r.scope == "all"
        )
        * 1.05,
        rel=1e-6,
    )


def test_a_new_shop_uses_the_profile_and_forward_needs_history():
    with pytest.raises(PlanError, match="needs the 12 months of 2025"):
        compute_plan(PLAN, TREE, trailing_totals=TRAILING)
    data = dict(PLAN.raw)
    data["target"] = {"annual": 12_000_000}
    new_shop = compute_plan(parse_plan(data, TREE), TREE, trailing_totals=TRAILING)
    assert new_shop.months_total_cents == round((12_000_000 - 5_000_000) * 105)
    assert new_shop.month_weights[2] < new_shop.month_weights[3]
