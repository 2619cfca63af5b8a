"""The calendar: holidays and the Spring Festival from the holidays library, reshaped months."""

from __future__ import annotations

import datetime as dt

import pytest

from kpi_tree.targets.calendar import (
    CalendarError,
    CalendarSpec,
    FestivalSpec,
    china_holidays,
    day_factor,
    effective_days,
    monthly_weights,
    reshape_months,
    spring_festival,
)

FESTIVAL = CalendarSpec(festival=FestivalSpec(days_before=7, days_after=7, factor=0.4))
FLAT = CalendarSpec(festival=None)
# an industry profile observed in 2024 (Spring Festival on 10 Feb 2024)
PROFILE = [8, 6, 8, 8, 8, 9, 8, 8, 8, 9, 11, 9]


def test_spring_festival_and_holidays_come_from_the_library():
    assert spring_festival(2025) == dt.date(2025, 1, 29)
    assert spring_festival(2026) == dt.date(2026, 2, 17)
    assert spring_festival(2024) == dt.date(2024, 2, 10)
    assert dt.date(2026, 10, 1) in china_holidays(2026)  # National Day
    assert dt.date(2026, 3, 10) not in china_holidays(2026)


def test_day_factor_combines_weekday_festival_holiday_and_special_days():
    spec = CalendarSpec(
        weekday_profile=(1, 1, 1, 1, 1, 2, 2),
        holiday_factor=0.5,
        festival=FestivalSpec(3, 3, 0.25),
        special_days={(11, 11): 4.0},
    )
    assert day_factor(dt.date(2026, 3, 10), spec) == 1.0  # a Tuesday
    assert day_factor(dt.date(2026, 3, 14), spec) == 2.0  # a Saturday
    assert day_factor(dt.date(2026, 2, 17), spec) == 0.25  # festival day (a Tuesday)
    assert day_factor(dt.date(2026, 2, 14), spec) == 2 * 0.25  # window opens 3 days before
    assert day_factor(dt.date(2026, 2, 21), spec) == 2.0  # closed again (Sat, holiday-free)
    assert day_factor(dt.date(2026, 10, 1), spec) == 0.5  # National Day, a Thursday
    assert day_factor(dt.date(2026, 11, 11), spec) == 4.0  # a Wednesday, 11.11


def test_the_festival_months_weight_moves_with_the_lunar_calendar():
    """29 Jan 2025 vs 17 Feb 2026: the trough moves from January into February."""
    e25, e26 = effective_days(2025, FESTIVAL), effective_days(2026, FESTIVAL)
    assert e25[1] < 31 and e26[1] == 31  # Jan 2025 holds 10 trough days, Jan 2026 none
    assert e26[2] < e25[2]  # Feb 2026 holds all 15
    w25 = monthly_weights(2025, FESTIVAL, profile=PROFILE, profile_year=2024)
    w26 = monthly_weights(2026, FESTIVAL, profile=PROFILE, profile_year=2024)
    assert w26[1] > w25[1] * 1.1
    assert w26[2] < w25[2] * 0.9
    assert sum(w25.values()) == pytest.approx(1) and sum(w26.values()) == pytest.approx(1)
    # last year's actuals (2025, festival in January) reshaped to 2026
    history = {m: 100.0 * v for m, v in enumerate(PROFILE, start=1)}
    shares = {m: v / sum(history.values()) for m, v in history.items()}
    w = monthly_weights(2026, FESTIVAL, history=history)
    assert w[1] > shares[1] and w[2] < shares[2]
    assert w[6] == pytest.approx(shares[6] * w[3] / shares[3])  # untouched months keep ratios


def test_reshape_is_the_identity_when_the_calendars_match():
    history = {m: float(v) for m, v in enumerate(PROFILE, start=1)}
    w = reshape_months(history, 2025, 2026, FLAT)  # same month lengths, no festival
    assert w == pytest.approx({m: v / sum(PROFILE) for m, v in history.items()}, rel=1e-12)
    leap = reshape_months(history, 2024, 2025, FLAT)  # 29 Feb 2024 -> 28 Feb 2025
    assert leap[2] < history[2] / sum(PROFILE)


def test_a_profile_without_a_reference_year_is_taken_as_it_is():
    w = monthly_weights(2026, FESTIVAL, profile=PROFILE)
    assert w == pytest.approx({m: v / sum(PROFILE) for m, v in enumerate(PROFILE, start=1)})
    no_reshape = CalendarSpec(reshape_history=False)
    history = {m: float(v) for m, v in enumerate(PROFILE, start=1)}
    assert monthly_weights(2026, no_reshape, history=history) == pytest.approx(w)


def test_calendar_errors_say_what_is_missing():
    with pytest.raises(CalendarError, match=r"months \[12\] are missing"):
        monthly_weights(2026, FLAT, history={m: 1.0 for m in range(1, 12)})
    with pytest.raises(CalendarError, match="no monthly history and no monthly profile"):
        monthly_weights(2026, FLAT)
    with pytest.raises(CalendarError, match="12 weights"):
        monthly_weights(2026, FLAT, profile=[1, 2, 3])
    with pytest.raises(CalendarError, match="7 weights"):
        CalendarSpec(weekday_profile=(1, 1))
