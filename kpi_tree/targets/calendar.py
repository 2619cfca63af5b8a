"""The plan's calendar: how much business each day of a year is expected to carry.

A day's *factor* is the product of
- its weekday weight (the plan's weekday profile),
- the Spring Festival factor if it falls in the festival window (``days_before`` days before
  to ``days_after`` days after the lunar new year's day; logistics stop and shops go quiet),
  else the public-holiday factor if it is a Chinese public holiday,
- a special-day factor (shopping festivals such as 6.18 or 11.11, by month-day).

Public holidays and the date of the Spring Festival come from the ``holidays`` library
(``holidays.China``), never from a hand-typed list, so the festival lands in January or
February as the lunar calendar says (29 Jan 2025, 17 Feb 2026).

Monthly weights come from last year's monthly actuals (or a profile) *reshaped* to the plan
year: each month's actual is divided by its effective days in the year it was observed (the
sum of its day factors) to give a level per effective day, which is multiplied by the
month's effective days in the plan year. A month that held the festival trough last year
but not this year therefore gets more weight, and the month the festival moves into gets
less; weekday mix and month length (29 February) are corrected the same way.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MONTHS = tuple(range(1, 13))


class CalendarError(ValueError):
    """The calendar inputs cannot produce weights; the message says which."""


@dataclass(frozen=True)
class FestivalSpec:
    """The Spring Festival trough: its window around the lunar new year's day and its factor."""

    days_before: int = 7
    days_after: int = 7
    factor: float = 0.5


@dataclass(frozen=True)
class CalendarSpec:
    """How the days of a year are weighted (see the module docstring)."""

    weekday_profile: tuple[float, ...] = (1.0,) * 7  # Monday first
    holiday_factor: float = 1.0
    festival: FestivalSpec | None = field(default_factory=FestivalSpec)
    special_days: Mapping[tuple[int, int], float] = field(default_factory=dict)  # (m, d) -> x
    reshape_history: bool = True

    def __post_init__(self) -> None:
        if len(self.weekday_profile) != 7:
            raise CalendarError(f"weekday_profile needs 7 weights, got {len(self.weekday_profile)}")
        if any(w < 0 for w in self.weekday_profile) or not any(self.weekday_profile):
            raise CalendarError("weekday_profile weights must be >= 0 and not all zero")


def days_of_year(year: int) -> list[dt.date]:
    start = dt.date(year, 1, 1)
    return [start + dt.timedelta(days=i) for i in range(366 if _calendar.isleap(year) else 365)]


def days_of_month(year: int, month: int) -> list[dt.date]:
    n = _calendar.monthrange(year, month)[1]
    return [dt.date(year, month, d) for d in range(1, n + 1)]


def date_range(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Every day from start to end, both included."""
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


@cache
def china_holidays(year: int) -> dict[dt.date, str]:
    """China's public holidays of a year (English names), from ``holidays.China``."""
    return dict(holidays.China(years=year, language="en_US").items())


@cache
def spring_festival(year: int) -> dt.date:
    """The lunar new year's day (春节) of a year, from ``holidays.China``."""
    named = holidays.China(years=year, language="en_US").get_named("Spring Festival")
    days = sorted(d for d in named if d.year == year and d.month in (1, 2))
    if not days:
        raise CalendarError(f"the holidays library has no Spring Festival for {year}")
    return days[0]


def festival_window(year: int, spec: FestivalSpec) -> tuple[dt.date, dt.date]:
    day = spring_festival(year)
    return day - dt.timedelta(days=spec.days_before), day + dt.timedelta(days=spec.days_after)


def day_factor(day: dt.date, spec: CalendarSpec) -> float:
    """The relative business a day is expected to carry (1.0 = an ordinary weekday)."""
    factor = spec.weekday_profile[day.weekday()]
    festival = spec.festival
    # a window reaches back into December only for an early festival: check next year's too
    if festival is not None and any(
        first <= day <= last
        for first, last in (festival_window(y, festival) for y in (day.year, day.year + 1))
    ):
        factor *= festival.factor
    elif day in china_holidays(day.year):
        factor *= spec.holiday_factor
    return factor * spec.special_days.get((day.month, day.day), 1.0)


def day_factors(year: int, spec: CalendarSpec) -> dict[dt.date, float]:
    return {day: day_factor(day, spec) for day in days_of_year(year)}


def effective_days(year: int, spec: CalendarSpec) -> dict[int, float]:
    """Per month, the sum of its day factors: its capacity for business in that year."""
    out = dict.fromkeys(MONTHS, 0.0)
    for day, factor in day_factors(year, spec).items():
        out[day.month] += factor
    return out


def _check_months(shape: Mapping[int, float], what: str) -> dict[int, float]:
    missing = [m for m in MONTHS if m not in shape]
    if missing:
        raise CalendarError(f"{what}: months {missing} are missing (all 12 are needed)")
    extra = sorted(set(shape) - set(MONTHS))
    if extra:
        raise CalendarError(f"{what}: unknown months {extra}")
    values = {m: float(shape[m]) for m in MONTHS}
    if any(v < 0 for v in values.values()):
        raise CalendarError(f"{what}: monthly values must be >= 0")
    if sum(values.values()) <= 0:
        raise CalendarError(f"{what}: the months add up to zero")
    return values


def reshape_months(
    shape: Mapping[int, float], observed_year: int, plan_year: int, spec: CalendarSpec
) -> dict[int, float]:
    """Move a monthly shape observed in one year onto another year's calendar.

    level per effective day = value / effective days (observed year); weight = level ×
    effective days (plan year). Returns weights normalised to sum to 1.
    """
    values = _check_months(shape, f"monthly shape of {observed_year}")
    before = effective_days(observed_year, spec)
    after = effective_days(plan_year, spec)
    weights = {}
    for m in MONTHS:
        if before[m] <= 0:
            if values[m] > 0:
                raise CalendarError(f"month {m} of {observed_year} has sales but no effective days")
            weights[m] = 0.0
        else:
            weights[m] = values[m] / before[m] * after[m]
    return normalise(weights, f"reshaped monthly shape {observed_year} -> {plan_year}")


def normalise(weights: Mapping, what: str = "weights") -> dict:
    total = sum(weights.values())
    if total <= 0:
        raise CalendarError(f"{what}: add up to zero")
    return {k: v / total for k, v in weights.items()}


def monthly_weights(
    plan_year: int,
    spec: CalendarSpec,
    *,
    history: Mapping[int, float] | None = None,
    history_year: int | None = None,
    profile: Sequence[float] | Mapping[int, float] | None = None,
    profile_year: int | None = None,
) -> dict[int, float]:
    """The plan year's monthly weights (summing to 1).

    From ``history`` (month -> actual of ``history_year``, default the year before) when
    given, else from ``profile`` (12 weights, January first). History is reshaped to the plan
    year's calendar when ``spec.reshape_history``; a profile only when ``profile_year`` says
    which year it was observed in (otherwise it is taken as the plan year's shape as it is).
    """
    if history is not None:
        year = history_year if history_year is not None else plan_year - 1
        if spec.reshape_history:
            return reshape_months(history, year, plan_year, spec)
        return normalise(_check_months(history, f"monthly history of {year}"))
    if profile is not None:
        if not isinstance(profile, Mapping):
            if len(profile) != 12:
                raise CalendarError(f"monthly profile needs 12 weights, got {len(profile)}")
            profile = dict(zip(MONTHS, profile, strict=True))
        if profile_year is not None:
            return reshape_months(profile, profile_year, plan_year, spec)
        return normalise(_check_months(profile, "monthly profile"))
    raise CalendarError("no monthly history and no monthly profile: cannot shape the year")


def iso_week(day: dt.date) -> tuple[int, int]:
    """(ISO year, ISO week) of a day."""
    iso = day.isocalendar()
    return iso.year, iso.week


def quarter(day_or_month: dt.date | int) -> int:
    month = day_or_month.month if isinstance(day_or_month, dt.date) else day_or_month
    return (month - 1) // 3 + 1
