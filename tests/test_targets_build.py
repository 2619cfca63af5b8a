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
    year_of = {p: sum(days.values()) for p, days in regions.items()}
    # the year first, exactly: region A is 40 % of the months' total, its reps 110 % of it
    assert year_of["region_a"] + year_of["region_b"] == result.months_total_cents
    assert year_of["region_a"] == round(Fraction(result.months_total_cents) * Fraction(4, 10))
    reps_year = sum(v for p, v in year_of.items() if p.startswith("region_a/"))
    assert reps_year == round(Fraction(year_of["region_a"]) * Fraction(11, 10))
    for month in range(1, 13):
        total = result.months[month]
        month_of = {
            p: sum(v for d, v in days.items() if d.month == month) for p, days in regions.items()
        }
        assert month_of["region_a"] + month_of["region_b"] == total
        # the reps' month is their year's share of region A's month, within a fen
        reps = sum(v for p, v in month_of.items() if p.startswith("region_a/"))
        share = Fraction(reps_year * month_of["region_a"], year_of["region_a"])
        assert abs(reps - share) < 1
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


def _plan(**changes):
    data = {
        "year": 2026,
        "target": 20_000_000,
        "monthly_profile": [7, 5, 8, 8, 8, 9, 7, 7, 8, 9, 14, 10],
        "drivers": {"signoff_rate": 0.9, "conversion_rate": 0.03, "aov": 200,
                    "click_to_session_rate": 0.9, "ctr": 0.02, "cpc": 1.5},
        "shares": {"organic_sessions": 0.5},
    }  # fmt: skip
    data.update(changes)
    return parse_plan(data, TREE)


def test_seed_000_reps_are_exact_to_the_fen_over_the_year():
    """20M over five reps by ability 6 : 5 : 4 : 4 : 3 with a 10 % uplift: exactly
    6,000,000.00 + 5,000,000.00 + 4,000,000.00 + 4,000,000.00 + 3,000,000.00, whatever the
    months' shares (each month's cents are split so that every rep's months add up to their
    year and every month's reps to 110 % of the month, within a fen)."""
    scores = {"rep_1": 6, "rep_2": 5, "rep_3": 4, "rep_4": 4, "rep_5": 3}
    plan = _plan(
        allocations=[
            {
                "name": "reps",
                "by": "scores",
                "uplift": 0.1,
                "units": [{"id": k, "score": v} for k, v in scores.items()],
            }
        ]
    )
    computed = compute_plan(plan, TREE)
    reps = computed.allocations["reps"]
    years = {p: sum(days.values()) for p, days in reps.items()}
    million = 100 * 1_000_000
    assert years == {p: s * million for p, s in scores.items()}
    year_rows = {r.scope: r.value for r in computed.rows(TREE) if r.grain == "year"}
    assert [year_rows[f"reps:{p}"] for p in scores] == [6e6, 5e6, 4e6, 4e6, 3e6]
    for month in range(1, 13):
        month_total = sum(v for days in reps.values() for d, v in days.items() if d.month == month)
        assert abs(month_total - Fraction(computed.months[month] * 11, 10)) < 1


def test_the_upside_keeps_to_the_year_end_cap_and_shares_are_shown_as_applied(result):
    upside = result.upside_months
    cap = int(Fraction(22, 100) * result.new_business_cents)
    # the example's new business runs July to December; November and December would carry
    # 24 / 55 of it by last year's shape, more than the plan's 22 %
    assert upside[11] + upside[12] == cap
    assert sum(upside.values()) == result.new_business_cents
    # the months' shares as split (after the cap), not the weights before it
    shares = result.applied_shares
    assert shares[11] + shares[12] <= 0.22 + 1e-12
    assert result.month_weights[11] + result.month_weights[12] > 0.22
    assert sum(shares.values()) == pytest.approx(1.0, rel=1e-12)


def test_an_upside_only_in_the_capped_months_is_refused():
    plan = _plan(
        new_business={"amount": 1_000_000, "from_month": 11},
        year_end_cap={"months": 2, "max_share": 0.2},
    )
    with pytest.raises(PlanError, match="new_business.from_month: the upside starts in month 11"):
        compute_plan(plan, TREE)


def test_a_plan_states_last_year_for_a_shop_without_history():
    months = [700_000, 500_000, 800_000, 800_000, 800_000, 900_000,
              700_000, 700_000, 800_000, 900_000, 1_400_000, 1_000_000]  # fmt: skip
    forward = {"method": "forward", "forward": {"basis": "growth", "growth": 0.5}}
    # the total only: the year's figure, shaped by the profile
    total_only = compute_plan(_plan(target=forward, last_year=10_000_000), TREE)
    assert total_only.annual_cents == 15_000_000_00 and total_only.last_year_from == "plan"
    # its 12 months: the figure and the shape (the profile is not needed)
    plan = _plan(target=forward, last_year=months, monthly_profile=None)
    stated = compute_plan(plan, TREE)
    assert stated.annual_cents == 15_000_000_00
    reshaped = compute_plan(plan, TREE, history={(2025, m): v for m, v in enumerate(months, 1)})
    assert stated.months == reshaped.months and reshaped.last_year_from == "warehouse"
    # a warehouse that holds the year wins over the plan's figure
    doubled = {(2025, m): 2.0 * v for m, v in enumerate(months, 1)}
    assert compute_plan(plan, TREE, history=doubled).annual_cents == 30_000_000_00
    with pytest.raises(PlanError, match="last_year"):
        _plan(last_year=[1, 2, 3])


def test_a_maturing_driver_is_planned_from_mature_days_only():
    """Sign-off planned as the trailing history: the window's young days have not signed off
    yet (0.8787), the mature window has (0.918); the sign-off driver takes the mature one, a
    driver that does not mature (AOV) the whole window's, and the plan says which."""
    trailing = {"gmv": 1_000_000.0, "orders": 5_000.0, "signed_gmv": 878_700.0}
    mature = {"gmv": 800_000.0, "orders": 4_100.0, "signed_gmv": 734_400.0}
    plan = _plan(drivers={**_plan().drivers, "signoff_rate": None, "aov": None})
    computed = compute_plan(plan, TREE, trailing_totals=trailing, mature_totals=mature)
    assert computed.drivers["signoff_rate"] == 734_400 / 800_000 == 0.918
    assert computed.drivers["aov"] == 1_000_000 / 5_000
    assert computed.history_basis == {"signoff_rate": "mature", "aov": "trailing"}
    # GMV is what net revenue needs at the mature sign-off rate
    year = {r.kpi: r.value for r in computed.rows(TREE) if r.grain == "year" and r.scope == "all"}
    gmv, top = year["gmv"], year["net_revenue"]
    assert gmv == pytest.approx(top / 0.918, rel=1e-9)
    # without a mature window (a shop younger than maturity_days) the window is all there is
    young = compute_plan(plan, TREE, trailing_totals=trailing)
    assert young.drivers["signoff_rate"] == pytest.approx(0.8787, rel=1e-12)
    assert young.history_basis["signoff_rate"] == "trailing"
