"""Pace against the target's own daily shape, status, and catch-up that lands on the target."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from fractions import Fraction

import duckdb
import pytest
from conftest import TEST_PLAN, make_shop
from conftest import kpi as run_kpi

from kpi_tree.model import default_tree
from kpi_tree.targets.calendar import CalendarSpec, day_factors
from kpi_tree.targets.pace import (
    AT_RISK,
    ON_TRACK,
    SHORT,
    PaceError,
    Thresholds,
    catch_up,
    catch_up_drivers,
    elapsed_share,
    pace,
    paced_target,
    rate_status,
)
from kpi_tree.targets.split import split_days
from pipelines.board.data import SCORE_CAP, collect
from pipelines.publish.serving import serving_db

TREE = default_tree()
SPEC = CalendarSpec(weekday_profile=(1, 1, 1, 1, 1.2, 1.5, 1.4), special_days={(3, 8): 2.0})
MARCH = {d: f for d, f in day_factors(2026, SPEC).items() if d.month == 3}
TARGET = 3_100_000_00  # 3.1M yuan in fen
DAYS = split_days({3: TARGET}, MARCH)  # the month's day targets
AS_OF = dt.date(2026, 3, 12)


def test_paced_target_follows_the_days_not_a_straight_line():
    to_date = sum(v for d, v in DAYS.items() if d <= AS_OF)
    assert paced_target(TARGET, DAYS, AS_OF) == to_date  # day targets as weights: exact
    assert paced_target(TARGET, MARCH, AS_OF) == pytest.approx(to_date, abs=12)
    straight = TARGET * 12 / 31
    assert abs(to_date - straight) > 1_000_00  # 8 March and the weekends weigh more
    assert elapsed_share(DAYS, dt.date(2026, 3, 31)) == 1
    assert elapsed_share(DAYS, dt.date(2026, 2, 28)) == 0


def test_pace_status_gap_and_projection():
    paced = paced_target(TARGET, DAYS, AS_OF)
    thresholds = Thresholds(on_track=1.0, at_risk=0.9)
    for factor, status in [(1.02, ON_TRACK), (0.95, AT_RISK), (0.8, SHORT)]:
        p = pace(TARGET, paced * factor, DAYS, AS_OF, thresholds)
        assert p.status == status
        assert p.attainment == pytest.approx(factor)
        assert p.gap == pytest.approx(paced * (factor - 1))
        # projected period end at the current run rate: actual per elapsed weight × all weight
        assert p.projected == pytest.approx(paced * factor / p.elapsed_share)
        assert p.projected / TARGET == pytest.approx(p.attainment)
    lower = pace(1000, 1100, DAYS, dt.date(2026, 3, 31), thresholds, direction="lower")
    assert lower.attainment == pytest.approx(1000 / 1100) and lower.status == AT_RISK
    before = pace(TARGET, 0, DAYS, dt.date(2026, 2, 28))
    assert before.attainment is None and before.projected is None and before.status is None
    assert rate_status(0.03, 0.032) == (pytest.approx(0.9375), AT_RISK)
    assert rate_status(40, 30, direction="lower")[1] == SHORT
    with pytest.raises(PaceError):
        Thresholds(on_track=0.8, at_risk=0.9)


def test_catch_up_lands_exactly_on_the_target():
    actual = 1_000_000_17  # behind: 1.00M at the 12th
    c = catch_up(TARGET, actual, DAYS, AS_OF)
    assert min(c.days) == dt.date(2026, 3, 13) and max(c.days) == dt.date(2026, 3, 31)
    assert actual + sum(c.days.values()) == TARGET  # to the fen
    assert c.needed == TARGET - actual
    assert c.planned_remaining == sum(v for d, v in DAYS.items() if d > AS_OF)
    assert c.factor == pytest.approx(c.needed / c.planned_remaining) and c.factor > 1
    # the remaining days keep the plan's shape: a Saturday needs 1.5× a Monday
    assert c.days[dt.date(2026, 3, 14)] == pytest.approx(1.5 * c.days[dt.date(2026, 3, 16)], abs=1)
    made = catch_up(TARGET, TARGET + 5, DAYS, AS_OF)
    assert set(made.days.values()) == {0} and made.needed == -5


def _remaining_weights() -> tuple[dict[dt.date, Fraction], Fraction]:
    share = elapsed_share(DAYS, AS_OF)
    total = sum(DAYS.values())
    return {d: Fraction(v, total) for d, v in DAYS.items() if d > AS_OF}, share


def test_one_driver_short_the_others_make_up_for_it_and_land_on_target():
    """Seed 002 第五步: sessions stay at their run rate; conversion and AOV must make up for it."""
    remaining, share = _remaining_weights()
    e = float(share)
    gmv_target = 3_100_000.0
    planned_sessions_rest = 380_000.0 * (1 - e)  # the plan's sessions over the remaining days
    actual = {"gmv": 900_000.0, "sessions": 150_000.0}  # sessions behind plan
    planned = {"sessions": planned_sessions_rest, "conversion_rate": 0.032, "aov": 255.0}
    c = catch_up_drivers(
        TREE,
        "gmv",
        target=gmv_target,
        actual=actual,
        planned=planned,
        elapsed_share=e,
        hold=["sessions"],
    )
    assert c.relation == "product" and list(c.required) == ["conversion_rate", "aov"]
    assert c.held["sessions"] == pytest.approx(150_000 * (1 - e) / e)
    f = c.factor["conversion_rate"]
    assert f > 1 and c.factor["aov"] == pytest.approx(f)  # one common factor
    # applied day by day over the remaining days, they land exactly on the target
    run_rate = actual["sessions"] / e  # sessions per unit of the period's weight
    landed = actual["gmv"] + math.fsum(
        run_rate * float(w) * c.required["conversion_rate"] * c.required["aov"]
        for w in remaining.values()
    )
    assert math.isclose(landed, gmv_target, rel_tol=1e-9)
    # or one named driver absorbs it all: AOV keeps its plan, conversion must carry the gap
    a = catch_up_drivers(
        TREE,
        "gmv",
        target=gmv_target,
        actual=actual,
        planned=planned,
        elapsed_share=e,
        hold=["sessions"],
        absorb="conversion_rate",
    )
    assert a.required["aov"] == 255.0
    assert math.isclose(
        actual["gmv"] + a.held["sessions"] * a.required["conversion_rate"] * 255,
        gmv_target,
        rel_tol=1e-9,
    )


def test_sum_identity_catch_up_and_held_rates():
    e = 0.4
    actual = {"sessions": 100_000.0, "organic_sessions": 30_000.0}
    planned = {"paid_sessions": 90_000.0, "organic_sessions": 60_000.0}
    c = catch_up_drivers(
        TREE,
        "sessions",
        target=260_000,
        actual=actual,
        planned=planned,
        elapsed_share=e,
        hold=["organic_sessions"],
    )
    assert c.held["organic_sessions"] == pytest.approx(45_000)
    assert c.required["paid_sessions"] == pytest.approx(260_000 - 100_000 - 45_000)
    # net revenue = GMV × sign-off: sign-off held at its rate to date
    c = catch_up_drivers(
        TREE,
        "net_revenue",
        target=1e6,
        actual={"net_revenue": 3e5, "signoff_rate": 0.9},
        planned={"gmv": 7e5},
        elapsed_share=0.3,
        hold=["signoff_rate"],
    )
    assert c.held["signoff_rate"] == 0.9
    assert c.required["gmv"] == pytest.approx(7e5 / 0.9)
    with pytest.raises(PaceError, match="not the parent of an identity"):
        catch_up_drivers(TREE, "aov", target=1, actual={}, planned={}, elapsed_share=0.5, hold=[])
    with pytest.raises(PaceError, match="at least one child must be free"):
        catch_up_drivers(
            TREE,
            "sessions",
            target=1,
            actual=actual,
            planned=planned,
            elapsed_share=0.5,
            hold=["organic_sessions", "paid_sessions"],
        )


def test_a_held_count_runs_on_at_its_rate_over_the_days_that_have_data():
    """Sessions missing on one day to date (a source gap): their run rate is over the days
    that have them, as pace leaves the day out, not diluted by the missing day."""
    weights = {d: w for d, w in enumerate([1, 1, 2, 1, 1, 3, 1, 1, 2, 1], start=1)}
    as_of, gap = 6, 3
    sessions = {1: 1000, 2: 900, 4: 1100, 5: 950, 6: 2800}
    assert gap not in sessions  # the missing day
    to_date = sum(w for d, w in weights.items() if d <= as_of)
    with_data = sum(weights[d] for d in sessions)
    rest = sum(w for d, w in weights.items() if d > as_of)
    # by hand: sessions per unit of day weight on the days with sessions, over the rest
    held_by_hand = sum(sessions.values()) / with_data * rest
    e = to_date / sum(weights.values())
    c = catch_up_drivers(
        TREE,
        "gmv",
        target=500_000.0,
        actual={"gmv": 300_000.0, "sessions": float(sum(sessions.values()))},
        planned={"sessions": 4_000.0, "conversion_rate": 0.03, "aov": 250.0},
        elapsed_share=e,
        hold=["sessions"],
        covered={"sessions": with_data / to_date},
    )
    assert c.held["sessions"] == pytest.approx(held_by_hand, rel=1e-12)
    needed = 200_000.0 / held_by_hand  # conversion x AOV over the rest
    assert c.required["conversion_rate"] * c.required["aov"] == pytest.approx(needed)
    # counted over every day to date, the missing one would pull the run rate down
    assert held_by_hand > sum(sessions.values()) / to_date * rest


@pytest.fixture(scope="module")
def young_shop(tmp_path_factory):
    """12 days of a shop with the test plan: every sign-off is young and no cohort has matured,
    so the maturing KPIs have no completion pattern and no expected value yet."""
    shop = make_shop(
        tmp_path_factory.mktemp("young"), start=dt.date(2025, 3, 1), days=12, orders_per_day=30
    )
    plans = shop.settings.targets_dir / "plans"
    plans.mkdir(parents=True)
    shutil.copyfile(TEST_PLAN, plans / TEST_PLAN.name)
    outcome = shop.run()
    assert outcome.success, outcome.error
    return shop


def test_a_provisional_value_without_an_expected_one_is_not_judged(young_shop, monkeypatch):
    """What has arrived of a young day is a partial observation: pace, `kpi targets show`, the
    board's cards and scorecards say "not judged yet", never short, and leave it unscored."""
    settings, day = young_shop.settings, young_shop.end
    with duckdb.connect(str(serving_db(settings)), read_only=True) as con:
        # by plain queries: the KPIs with a provisional day this month and no expected value
        unjudged = dict(
            con.execute(
                "select kpi_id, sum(numerator) / nullif(sum(denominator), 0) "
                "from kpi_tree.kpi_values where grain = 'day' and dimension = 'total' "
                "and period_start between date_trunc('month', ?::date) and ? "
                "group by kpi_id having bool_or(is_provisional and expected_value is null)",
                [day, day],
            ).fetchall()
        )
        sums = dict(
            con.execute(
                "select kpi_id, sum(numerator) from kpi_tree.kpi_values where grain = 'day' "
                "and dimension = 'total' and period_start between date_trunc('month', ?::date) "
                "and ? group by kpi_id",
                [day, day],
            ).fetchall()
        )
        pace = {
            r[0]: r[1:]
            for r in con.execute(
                "select kpi_id, status, actual, is_provisional, is_expected "
                "from kpi_tree.kpi_vs_target where as_of_day = ? and period_grain = 'month' "
                "and scope = 'all'",
                [day],
            ).fetchall()
        }
        data = collect(con, TREE, settings)
    paced = set(unjudged) & set(pace)
    assert {"net_revenue", "signoff_rate"} <= paced  # young sign-offs, no mature cohort yet
    for kpi in paced:
        status, actual, provisional, expected = pace[kpi]
        node = TREE.nodes[kpi]
        # the row's actual is what has arrived (observed), and it is not judged on it
        observed = sums[kpi] if node.kind == "sum" else node.scale * unjudged[kpi]
        assert actual == pytest.approx(observed, rel=1e-12), kpi
        assert provisional and not expected and status == "not_judged", (kpi, status)
    # every other paced KPI keeps its judgement
    assert {pace[k][0] for k in set(pace) - paced} <= {ON_TRACK, AT_RISK, SHORT, None}

    nodes = {n["id"]: n for n in data["nodes"]}
    for kpi in paced:
        assert nodes[kpi]["periods"]["month"]["status"] == "not_judged", kpi
    # a scorecard leaves the unjudged KPIs out of its score
    scored_any = False
    for team in data["teams"]:
        card = team["scorecard"]["month"]
        rows = [r for r in card["rows"] if r["attainment"] is not None]
        judged = [r for r in rows if r["kpi"] not in paced]
        if len(judged) < len(rows):
            scored_any = True
            assert {r["status"] for r in rows if r["kpi"] in paced} == {"not_judged"}
        if judged:
            weights = sum(r["weight"] for r in judged)
            by_hand = sum(r["weight"] * min(r["attainment"], SCORE_CAP) for r in judged) / weights
            assert card["score"] == pytest.approx(by_hand), team["id"]
        else:
            assert card["score"] is None, team["id"]
    assert scored_any, "some scorecard holds an unjudged KPI"

    monkeypatch.setenv("KPI_LOCALE", "en_US")  # the words below are the CLI's English ones
    code, output = run_kpi(young_shop.data_dir, "targets", "show", "--date", day.isoformat())
    assert code == 0, output
    for kpi in paced:
        # a row's first line: its name may wrap, its status does not
        start = f"│ {TREE.nodes[kpi].en[:11]}"
        lines = [ln for ln in output.splitlines() if ln.startswith(start)]
        assert len(lines) == 1, output
        assert "not judged yet" in lines[0] and "short" not in lines[0], lines[0]
