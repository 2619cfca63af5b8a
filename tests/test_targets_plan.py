"""The plan file: the example loads, errors name the field, the year's target by every method."""

from __future__ import annotations

import copy

import pytest
import yaml

from kpi_tree.model import default_tree
from kpi_tree.targets.calendar import WEEKDAYS
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


def refused(data, tree=None) -> dict[str, str]:
    """What parse_plan says of ``data``: the place of each problem -> what it says there."""
    with pytest.raises(PlanError) as info:
        parse_plan(data, tree)
    return dict(line.split(": ", 1) for line in str(info.value).splitlines())


@pytest.mark.parametrize(
    ("change", "place"),
    [
        # a required key missing
        (lambda d: d.pop("year"), "year"),
        (lambda d: d["target"]["backward"].pop("net_profit"), "target.backward.net_profit"),
        (lambda d: d["allocations"][0].pop("units"), "allocations[0].units"),
        (lambda d: d["allocations"][0]["units"][0].pop("id"), "allocations[0].units[0].id"),
        # an unknown key, at every level
        (lambda d: d.update(yeer=2026), "yeer"),
        (lambda d: d["target"].update(anual=1), "target.anual"),
        (lambda d: d["target"]["forward"].update(rate=0.1), "target.forward.rate"),
        (
            lambda d: d["calendar"]["weekday_profile"].update(funday=1),
            "calendar.weekday_profile.funday",
        ),
        (lambda d: d["calendar"]["festival"].update(length=3), "calendar.festival.length"),
        (lambda d: d["year_end_cap"].update(share=0.2), "year_end_cap.share"),
        (lambda d: d["allocations"][1].update(team="mkt"), "allocations[1].team"),
        (
            lambda d: d["allocations"][0]["units"][0]["units"][2].update(name="x"),
            "allocations[0].units[0].units[2].name",
        ),
        # a value of the wrong kind: text, a boolean, a float for a whole number
        (
            lambda d: d["target"]["backward"].update(gross_margin="40%"),
            "target.backward.gross_margin",
        ),
        (lambda d: d["drivers"].update(ctr="high"), "drivers.ctr"),
        (lambda d: d.update(buffer=True), "buffer"),
        (lambda d: d.update(year=2026.0), "year"),
        (lambda d: d["calendar"].update(reshape_history="yes"), "calendar.reshape_history"),
        (lambda d: d["target"].update(combine=1), "target.combine"),
        (lambda d: d.update(calendar=[1, 2]), "calendar"),
        # out of range
        (lambda d: d.update(buffer=-0.1), "buffer"),
        (lambda d: d.update(year=1999), "year"),
        (lambda d: d["year_end_cap"].update(months=12), "year_end_cap.months"),
        (lambda d: d["new_business"].update(from_month=13), "new_business.from_month"),
        (lambda d: d["calendar"]["festival"].update(factor=-1), "calendar.festival.factor"),
        (
            lambda d: d["calendar"]["festival"].update(days_before=31),
            "calendar.festival.days_before",
        ),
        (lambda d: d["shares"].update(organic_sessions=1.5), "shares.organic_sessions"),
        (lambda d: d["target"]["forward"].update(growth=-1), "target.forward.growth"),
        (
            lambda d: d["allocations"][1]["units"][0].update(score=-5),
            "allocations[1].units[0].score",
        ),
        # a choice that is not one of the choices
        (lambda d: d["target"].update(method="guess"), "target.method"),
        (lambda d: d["target"]["forward"].update(basis="hope"), "target.forward.basis"),
        (lambda d: d["allocations"][0].update(by="seniority"), "allocations[0].by"),
        # shapes: list lengths, a key that must be a day, a name without '/'
        (lambda d: d["monthly_profile"].update(weights=[1, 2]), "monthly_profile.weights"),
        (lambda d: d["calendar"].update(weekday_profile=[1, 1]), "calendar.weekday_profile"),
        (
            lambda d: d["calendar"]["special_days"].update({"13-01": 2}),
            "calendar.special_days.13-01",
        ),
        (
            lambda d: d["calendar"]["special_days"].update({"02-30": 2}),
            "calendar.special_days.02-30",
        ),
        (lambda d: d["allocations"][1]["units"][0].update(id="a/b"), "allocations[1].units[0].id"),
        # rules over several keys, blamed on one
        (lambda d: d["target"].update(annual=1), "target.annual"),
        (lambda d: d["target"].pop("backward"), "target.backward"),
        (lambda d: d["target"]["forward"].pop("growth"), "target.forward.growth"),
        (
            lambda d: d["target"]["backward"].update(gross_margin=0.1),
            "target.backward.gross_margin",
        ),
        (lambda d: d["target"]["backward"].update(net_profit=-7e6), "target.backward.net_profit"),
        (
            lambda d: d.update(target={"annual": 1e6, "combine": "min"}),
            "target.combine",
        ),
        (
            lambda d: d.update(target={"annual": 1e6, "forward": {"growth": 0.1}}),
            "target.forward",
        ),
        (lambda d: d.update(target=4_000_000), "new_business.amount"),
        (lambda d: d["monthly_profile"].update(weights=[0] * 12), "monthly_profile.weights"),
        (
            lambda d: d["calendar"].update(weekday_profile={day: 0 for day in WEEKDAYS}),
            "calendar.weekday_profile",
        ),
        (lambda d: d["allocations"][0]["units"][1].update(weight=0.5), "allocations[0].units"),
        (
            lambda d: d["allocations"][0]["units"][0]["units"][0].update(weight=6),
            "allocations[0].units[0].units[0].weight",
        ),
        (
            lambda d: d["allocations"][0]["units"][0]["units"][1].pop("score"),
            "allocations[0].units[0].units[1].score",
        ),
        (
            lambda d: d["allocations"][1]["units"][2].update(id="search"),
            "allocations[1].units[2].id",
        ),
        (lambda d: d["allocations"][1].update(name="regions"), "allocations[1].name"),
        (
            lambda d: d["allocations"][0]["units"][1].update(by="scores"),
            "allocations[0].units[1].by",
        ),
    ],
)
def test_each_kind_of_mistake_is_refused_at_its_place(change, place):
    problems = refused(plan_with(change))
    assert place in problems, problems
    assert problems[place]  # and says what is wrong there


def test_every_problem_of_a_plan_is_reported_at_once():
    def two_mistakes(d):
        d.update(buffer=-1, yeer=1)
        d["calendar"]["festival"].update(factor="low")

    assert set(refused(plan_with(two_mistakes))) == {"buffer", "yeer", "calendar.festival.factor"}


def test_messages_say_what_to_do():
    problems = refused(plan_with(lambda d: d["calendar"]["weekday_profile"].update(funday=1)))
    assert "mon" in problems["calendar.weekday_profile.funday"]  # the keys it could have been
    problems = refused(plan_with(lambda d: d["target"]["backward"].update(gross_margin="40%")))
    assert "'40%'" in problems["target.backward.gross_margin"]  # the value it was given


def test_shorthands_and_blank_sections_read_as_their_long_forms():
    data = {
        "year": 2026,
        "target": 40_000_000,
        "new_business": 5_000_000,
        "monthly_profile": [1] * 12,
        "calendar": {"weekday_profile": [1, 1, 1, 1, 1, 2, 2], "festival": False},
        "drivers": None,
        "shares": None,
        "allocations": None,
    }
    plan = parse_plan(data)
    assert (plan.target.method, plan.target.annual) == ("annual", 40_000_000)
    assert plan.new_business.amount == 5_000_000 and plan.new_business.from_month == 1
    assert plan.monthly_profile == (1,) * 12 and plan.profile_year is None
    assert plan.calendar.weekday_profile == (1, 1, 1, 1, 1, 2, 2)
    assert plan.calendar.festival is None
    assert (plan.drivers, plan.shares, plan.allocations) == ({}, {}, ())
    assert plan.hash == plan_hash(data)  # the file as written, not its long form


@pytest.mark.parametrize(
    ("change", "place"),
    [
        (lambda d: d.update(top_kpi="revenue"), "top_kpi"),
        (lambda d: d.update(top_kpi="conversion_rate"), "top_kpi"),
        (lambda d: d["drivers"].update(cvr=0.03), "drivers.cvr"),
        (lambda d: d["shares"].update(aov=0.5), "shares.aov"),
        (lambda d: d["allocations"][1].update(kpi="ctr"), "allocations[1].kpi"),
        (lambda d: d["allocations"][1].update(kpi="cvr"), "allocations[1].kpi"),
        (lambda d: d["allocations"][0].update(dimension="carrier"), "allocations[0].dimension"),
    ],
)
def test_plan_is_checked_against_the_tree(change, place):
    assert place in refused(plan_with(change), default_tree())
    parse_plan(plan_with(change))  # without the tree, the ids are not checked


def test_load_plan_names_the_file_on_each_problem(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("year: 2026\ntarget: {annual: -5}\nbufer: 0.1\n", encoding="utf-8")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    lines = str(info.value).splitlines()
    assert [line.split(": ")[:2] for line in lines] == [
        [str(path), "target.annual"],
        [str(path), "bufer"],
    ]
