"""The plan file: the example loads, errors name the field, the year's target by every method."""

from __future__ import annotations

import copy

import pytest
import yaml

from kpi_tree.model import default_tree
from kpi_tree.targets.plan import (
    EXAMPLE_PLAN,
    PlanError,
    annual_target,
    load_plan,
    parse_plan,
    plan_hash,
)

RAW = yaml.safe_load(EXAMPLE_PLAN.read_text(encoding="utf-8"))
HISTORY_2025 = {(2025, m): 10_000_000 / 12 for m in range(1, 13)}


def plan_with(change) -> dict:
    data = copy.deepcopy(RAW)
    change(data)
    return data


def test_example_plan_loads_and_uses_every_feature():
    plan = load_plan(EXAMPLE_PLAN, tree=default_tree())
    assert plan.year == 2026 and plan.top_kpi == "net_revenue"
    assert plan.target.method == "combined" and plan.target.combine == "max"
    assert plan.target.forward.growth == 3.0
    assert plan.target.backward.revenue() == pytest.approx(38_000_000)
    assert (plan.new_business.amount, plan.new_business.from_month) == (5_000_000, 7)
    assert plan.buffer == 0.05
    assert (plan.year_end_cap.months, plan.year_end_cap.max_share) == (2, 0.22)
    assert len(plan.monthly_profile) == 12 and plan.profile_year == 2025
    cal = plan.calendar
    assert cal.weekday_profile[5] == 1.15 and cal.holiday_factor == 0.9
    assert cal.festival.factor == 0.45 and cal.special_days[(11, 11)] == 3.0
    assert plan.drivers["aov"] is None and plan.drivers["ctr"] == 0.021
    assert plan.shares == {"organic_sessions": 0.45}
    regions = plan.allocations[0]
    assert [u.id for u in regions.units] == ["region_a", "region_b"]
    assert regions.units[0].by == "scores" and regions.units[0].uplift == 0.10
    assert [u.weight for u in regions.units[0].units] == [6, 5, 4, 4, 3]
    assert plan.hash == plan_hash(RAW) and len(plan.hash) == 64


def test_annual_target_methods():
    plan = load_plan()
    got = annual_target(plan, HISTORY_2025)
    assert got.value == pytest.approx(40_000_000)  # max(10M × 4, 38M)
    assert got.forward == pytest.approx(40_000_000) and got.backward == pytest.approx(38_000_000)
    for rule, want in [("min", 38_000_000), ("blend", 0.25 * 40_000_000 + 0.75 * 38_000_000)]:
        p = parse_plan(
            plan_with(lambda d, r=rule: d["target"].update(combine=r, forward_weight=0.25))
        )
        assert annual_target(p, HISTORY_2025).value == pytest.approx(want)
    p = parse_plan(plan_with(lambda d: d.update(target={"annual": 40_000_000})))
    assert annual_target(p).value == 40_000_000 and annual_target(p).method == "annual"
    back = parse_plan(
        plan_with(
            lambda d: d.update(target={"method": "backward", "backward": d["target"]["backward"]})
        )
    )
    assert annual_target(back).value == pytest.approx(38_000_000)


def test_forward_trend_extrapolates_full_years():
    data = plan_with(
        lambda d: d.update(target={"method": "forward", "forward": {"basis": "trend", "years": 3}})
    )
    history = {
        (y, m): total / 12
        for y, total in [(2023, 6e6), (2024, 8e6), (2025, 10e6)]
        for m in range(1, 13)
    }
    assert annual_target(parse_plan(data), history).value == pytest.approx(12e6)
    with pytest.raises(PlanError, match=r"target.forward.years: full history missing for \[2023\]"):
        annual_target(parse_plan(data), {k: v for k, v in history.items() if k[0] > 2023})


def test_forward_without_last_years_history_says_so():
    with pytest.raises(PlanError, match=r"needs the 12 months of 2025.*got months \[1, 2, 3\]"):
        annual_target(load_plan(), {(2025, m): 1.0 for m in (1, 2, 3)})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("year"), "year: is required"),
        (lambda d: d.update(yeer=2026), "yeer: unknown field"),
        (lambda d: d["target"].update(annual=1), "target.annual: give either"),
        (lambda d: d["target"].update(method="guess"), "target.method: must be one of"),
        (
            lambda d: d["target"]["backward"].update(gross_margin="40%"),
            "target.backward.gross_margin: must be a number",
        ),
        (
            lambda d: d["target"]["backward"].update(gross_margin=0.1),
            "target.backward.gross_margin: must exceed variable_cost_rate",
        ),
        (lambda d: d["target"]["forward"].pop("growth"), "target.forward.growth: is required"),
        (lambda d: d.update(buffer=-0.1), "buffer: must be >= 0"),
        (lambda d: d["year_end_cap"].update(months=12), "year_end_cap.months: must be between"),
        (lambda d: d["monthly_profile"].update(weights=[1, 2]), "monthly_profile.weights"),
        (
            lambda d: d["calendar"]["weekday_profile"].update(funday=1),
            "calendar.weekday_profile.funday: unknown field",
        ),
        (
            lambda d: d["calendar"]["special_days"].update({"13-01": 2}),
            "calendar.special_days.13-01: the key must be MM-DD",
        ),
        (
            lambda d: d["calendar"]["festival"].update(factor=-1),
            "calendar.festival.factor: must be >= 0",
        ),
        (lambda d: d["drivers"].update(ctr="high"), "drivers.ctr: must be a number"),
        (
            lambda d: d["allocations"][0]["units"][1].update(weight=0.5),
            r"allocations\[regions\].units: weights must add up to 1, got 0.9",
        ),
        (
            lambda d: d["allocations"][0]["units"][0]["units"][0].update(weight=6),
            r"allocations\[regions\].units\[region_a\].units\[rep_1\].weight: its parent splits",
        ),
        (lambda d: d["new_business"].update(from_month=13), "new_business.from_month"),
    ],
)
def test_plan_errors_name_the_field(change, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(plan_with(change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(top_kpi="revenue"), "top_kpi: unknown node 'revenue'"),
        (lambda d: d.update(top_kpi="conversion_rate"), "must be an additive money KPI"),
        (lambda d: d["drivers"].update(cvr=0.03), "drivers.cvr: unknown node"),
        (lambda d: d["shares"].update(aov=0.5), "shares.aov: not a part of a sum identity"),
        (
            lambda d: d["allocations"][1].update(kpi="ctr"),
            r"allocations\[ad_channels\].kpi: 'ctr' is not additive",
        ),
    ],
)
def test_plan_is_checked_against_the_tree(change, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(plan_with(change), tree=default_tree())


def test_load_plan_prefixes_the_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("year: 2026\ntarget: {annual: -5}\n", encoding="utf-8")
    with pytest.raises(PlanError, match=r"p.yaml: target.annual: must be > 0"):
        load_plan(path)
