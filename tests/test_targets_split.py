"""Exact splits in fen: largest remainder, new business carved out, buffer, year-end cap."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_tree.targets.calendar import CalendarSpec, day_factors, days_of_year
from kpi_tree.targets.split import (
    SplitError,
    apply_year_end_cap,
    by_iso_week,
    by_month,
    by_quarter,
    carve_new_business,
    from_cents,
    scaled,
    split_days,
    split_exact,
    split_months,
    to_cents,
)

M = 100 * 1_000_000  # one million yuan in fen
# last year: 10M in a seasonal shape (docs/domain.md, seed 002)
LAST_YEAR = dict(
    zip(
        range(1, 13),
        [
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
        ],
        strict=True,
    )
)


def test_largest_remainder_adds_up_and_stays_within_a_cent():
    parts = split_exact(100, [1, 1, 1])
    assert parts == [34, 33, 33]
    weights = [0.1, 0.2, 0.3, 0.15, 0.25, 1e-9]
    total = 123_456_789
    parts = split_exact(total, weights)
    assert sum(parts) == total
    wsum = sum(Fraction(repr(w)) for w in weights)
    for part, w in zip(parts, weights, strict=True):
        assert abs(part - total * Fraction(repr(w)) / wsum) < 1


def test_split_refuses_what_cannot_add_up():
    with pytest.raises(SplitError, match="add up to zero"):
        split_exact(5, [0, 0])
    with pytest.raises(SplitError, match=">= 0"):
        split_exact(5, [1, -1])
    with pytest.raises(SplitError, match="integer cents"):
        split_exact(5.0, [1])  # type: ignore[arg-type]
    assert split_exact(0, [0, 0]) == [0, 0]


def test_cents_round_half_up_and_back():
    assert to_cents(40_000_000) == 4_000_000_000
    assert to_cents(0.125) == 13
    assert to_cents("1234.565") == 123457
    assert from_cents(123457) == Decimal("1234.57")
    assert scaled(3_500_000_000, Fraction(105, 100)) == 3_675_000_000


def test_seed_002_new_business_carved_out_35m_over_last_years_shape():
    """Last year 10M, target 40M, new business 5M -> 35M spread over last year's shape."""
    base, upside = carve_new_business(40 * M, 5 * M)
    assert (base, upside) == (35 * M, 5 * M)
    months = split_months(base, LAST_YEAR)
    assert sum(months.values()) == 35 * M
    # exactly 3.5 × last year's month, to the fen
    assert months == {m: to_cents(v * 3.5) for m, v in LAST_YEAR.items()}
    assert months[11] == to_cents(4_900_000)
    with pytest.raises(SplitError, match="new business"):
        carve_new_business(10, 11)


def test_buffer_months_add_up_to_one_plus_buffer_times_the_year():
    months = split_months(35 * M, LAST_YEAR, buffer=0.05)
    assert sum(months.values()) == 36_750_000_00
    months = split_months(35 * M + 1, LAST_YEAR, buffer=Fraction(1, 3))  # rounding to the fen
    assert sum(months.values()) == round(Fraction(35 * M + 1) * Fraction(4, 3))


def test_year_end_cap_holds_exactly_and_moves_the_excess_earlier_in_proportion():
    months = split_months(35 * M, LAST_YEAR)
    tail = months[11] + months[12]  # 24 % of the year
    assert tail * 100 == 24 * sum(months.values())
    capped = apply_year_end_cap(list(months.values()), 2, 0.20)
    assert sum(capped) == sum(months.values())
    assert capped[-2] + capped[-1] == 35 * M * 20 // 100
    moved = [c - m for c, m in zip(capped[:-2], list(months.values())[:-2], strict=True)]
    excess = tail - 7 * M
    assert sum(moved) == excess
    # in proportion to the earlier months (within a fen)
    head = list(months.values())[:-2]
    for got, amount in zip(moved, head, strict=True):
        assert abs(got - Fraction(excess * amount, sum(head))) < 1
    # a cap that already holds changes nothing
    assert apply_year_end_cap(list(months.values()), 2, 0.5) == list(months.values())
    via_split = split_months(35 * M, LAST_YEAR, buffer=0.05, year_end_cap=(2, 0.2))
    assert sum(via_split.values()) == 36_750_000_00
    assert via_split[11] + via_split[12] <= Fraction(20, 100) * 36_750_000_00
    with pytest.raises(SplitError, match="max_share"):
        apply_year_end_cap([1, 2, 3], 1, 0)


def test_days_weeks_quarters_add_up_to_their_months():
    spec = CalendarSpec(
        weekday_profile=(1, 1, 1, 1, 1.1, 1.3, 1.2),
        holiday_factor=0.8,
        special_days={(11, 11): 3.0},
    )
    months = split_months(35 * M, LAST_YEAR, buffer=0.05)
    days = split_days(months, day_factors(2026, spec))
    assert sorted(days) == days_of_year(2026)
    assert {m: v for (_, m), v in by_month(days).items()} == months
    assert sum(by_quarter(days).values()) == sum(months.values())
    weeks = by_iso_week(days)
    assert sum(weeks.values()) == sum(months.values())
    assert (2026, 1) in weeks and (2026, 53) in weeks  # 1 Jan 2026 is in 2026-W01
    # the day weights shape the month: 11.11 carries 3× an ordinary Wednesday
    assert days[dt.date(2026, 11, 11)] == pytest.approx(3 * days[dt.date(2026, 11, 4)], abs=1)
    # a Saturday carries 1.3× a Monday of the same month
    assert days[dt.date(2026, 3, 14)] == pytest.approx(1.3 * days[dt.date(2026, 3, 9)], abs=1)
