"""The sample shop's business calendar: how one business day differs from an ordinary one.

Every factor is a pure function of the date (never of the generated range), so a day looks
the same whichever range it is generated in. Business days are calendar days in
Asia/Shanghai (UTC+8 all year: China has no daylight saving time since 1991).

Factors (1.0 = an ordinary weekday at the start of 2025):

- **trend**: traffic grows ``TREND_PER_YEAR`` (10 %) a year, continuously, from 2025-01-01.
- **weekday**: weekend traffic up (Sat +14 %, Sun +12 %), conversion slightly down.
- **month**: a mild seasonality (July/August slower, autumn busier).
- **Spring Festival** (春节), found with ``holidays.China`` (the first "Chinese New Year
  (Spring Festival)" day: 2025-01-29, 2026-02-17): traffic falls from 4 days before
  (×0.85 … ×0.45 on New Year's Eve) to ×0.35 on the day and recovers over the 10 days after;
  conversion ×0.85 around it; warehouses and carriers slow down from 7 days before to 8 days
  after (1–2 extra days before shipping, 2–3 from 3 days before to 5 after; 1–3 extra
  transit days), and customer
  service runs short-staffed (35 % of the agents: load ≈ 1–1.8 despite the low traffic).
- **618** (June): ramp through June 1–17 (quadratic, up to traffic ×1.5, conversion ×1.15),
  peak on June 18 (traffic ×2.0, conversion ×1.3, prices ×0.85), a hangover on June 19.
- **Double 11** (November): ramp Nov 1–10 (up to traffic ×1.6, conversion ×1.2), peak on
  Nov 11 (traffic ×2.6, conversion ×1.4, prices ×0.8), a hangover on Nov 12.
- **Double 12**: Dec 10–11 ×1.1, Dec 12 traffic ×1.5, conversion ×1.15, prices ×0.9.

Promotions also raise paid budgets (``paid``: extra paid traffic), the cost per click
(``cpc``) and the multi-item share (满减 bundles); ``load`` is the customer-service load
relative to an ordinary day (it slows first responses and COD order review).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import cache

import holidays

TREND_PER_YEAR = 0.10
TREND_EPOCH = date(2025, 1, 1)

#: Monday .. Sunday
WEEKDAY_TRAFFIC = (0.96, 0.94, 0.95, 0.97, 1.00, 1.14, 1.12)
WEEKDAY_CVR = (1.00, 1.00, 1.00, 1.00, 0.99, 0.96, 0.97)
#: January .. December (the Spring Festival trough and the promotions come on top)
MONTH_TRAFFIC = (0.98, 0.97, 1.00, 0.99, 1.00, 1.02, 0.95, 0.96, 1.00, 1.02, 1.04, 1.03)

#: days from the Spring Festival -> traffic factor (absent: 1.0)
FESTIVAL_TRAFFIC = {
    -4: 0.85,
    -3: 0.70,
    -2: 0.55,
    -1: 0.45,
    0: 0.35,
    1: 0.35,
    2: 0.38,
    3: 0.42,
    4: 0.48,
    5: 0.55,
    6: 0.62,
    7: 0.70,
    8: 0.78,
    9: 0.86,
    10: 0.93,
}
FESTIVAL_CVR_DAYS = range(-3, 7)
FESTIVAL_SHIP_DAYS = range(-7, 9)  # extra days before shipping
FESTIVAL_WORST_DAYS = range(-3, 6)
FESTIVAL_TRANSIT_DAYS = range(-7, 9)  # extra transit days
FESTIVAL_STAFFING = 0.35  # share of customer-service agents at work around the festival


@dataclass(frozen=True)
class DayFactors:
    """How one business day differs from an ordinary weekday at the start of 2025."""

    traffic: float = 1.0  # all sessions (includes the trend)
    paid: float = 1.0  # extra on paid sessions: budgets follow promotions
    cvr: float = 1.0  # conversion rate
    cpc: float = 1.0  # cost per click
    discount: float = 1.0  # price level (1 = list price)
    multi_item: float = 0.24  # share of orders with several lines
    load: float = 1.0  # customer-service load relative to an ordinary day
    ship_extra: tuple[int, int] = (0, 0)  # extra days before shipping, inclusive range
    transit_extra: tuple[int, int] = (0, 0)  # extra transit days, inclusive range
    peak: bool = False  # a midnight rush (618, Double 11 peaks)
    label: str = ""


@cache
def spring_festival(year: int) -> date:
    """The first day of the Spring Festival (Chinese New Year) in ``year``."""
    found = sorted(
        d
        for d, name in holidays.China(years=year).items()
        if name.startswith("Chinese New Year (Spring Festival)")
    )
    if not found:
        raise ValueError(f"holidays.China has no Spring Festival for {year}")
    return found[0]


def trend(day: date) -> float:
    return math.exp(TREND_PER_YEAR * (day - TREND_EPOCH).days / 365.25)


def _ramp(day_of_month: int, last_ramp_day: int) -> float:
    return ((day_of_month - 1) / (last_ramp_day - 1)) ** 2


@cache
def day_factors(day: date) -> DayFactors:
    """The calendar factors of one business day (pure function of the date)."""
    calendar_traffic = WEEKDAY_TRAFFIC[day.weekday()] * MONTH_TRAFFIC[day.month - 1]
    cvr = WEEKDAY_CVR[day.weekday()]
    paid = cpc = discount = 1.0
    multi = 0.24
    load_extra = 1.0
    ship_extra = transit_extra = (0, 0)
    peak = False
    label = ""

    offset = (day - spring_festival(day.year)).days
    if offset in FESTIVAL_TRAFFIC:
        calendar_traffic *= FESTIVAL_TRAFFIC[offset]
        label = "spring_festival"
    if offset in FESTIVAL_CVR_DAYS:
        cvr *= 0.85
        load_extra = 1 / FESTIVAL_STAFFING
    if offset in FESTIVAL_SHIP_DAYS:
        ship_extra = (2, 3) if offset in FESTIVAL_WORST_DAYS else (1, 2)
        label = label or "spring_festival_logistics"
    if offset in FESTIVAL_TRANSIT_DAYS:
        transit_extra = (1, 3)

    m, d = day.month, day.day
    if m == 6 and d <= 17:
        r = _ramp(d, 17)
        calendar_traffic *= 1 + 0.5 * r
        cvr *= 1 + 0.15 * r
        paid, cpc, discount, multi = 1 + 0.3 * r, 1 + 0.25 * r, 1 - 0.08 * r, 0.24 + 0.08 * r
        label = "618_ramp"
    elif m == 6 and d == 18:
        calendar_traffic *= 2.0
        cvr *= 1.3
        paid, cpc, discount, multi, peak = 1.5, 1.45, 0.85, 0.38, True
        label = "618"
    elif m == 6 and d == 19:
        calendar_traffic *= 0.9
        cvr *= 0.9
    elif m == 11 and d <= 10:
        r = _ramp(d, 10)
        calendar_traffic *= 1 + 0.6 * r
        cvr *= 1 + 0.2 * r
        paid, cpc, discount, multi = 1 + 0.4 * r, 1 + 0.3 * r, 1 - 0.1 * r, 0.24 + 0.1 * r
        label = "double11_ramp"
    elif m == 11 and d == 11:
        calendar_traffic *= 2.6
        cvr *= 1.4
        paid, cpc, discount, multi, peak = 1.6, 1.6, 0.8, 0.40, True
        label = "double11"
    elif m == 11 and d == 12:
        calendar_traffic *= 0.85
        cvr *= 0.9
    elif m == 12 and d in (10, 11):
        calendar_traffic *= 1.1
        label = "double12_ramp"
    elif m == 12 and d == 12:
        calendar_traffic *= 1.5
        cvr *= 1.15
        paid, cpc, discount, multi = 1.3, 1.25, 0.9, 0.33
        label = "double12"

    load = min(max(calendar_traffic * cvr * load_extra, 0.5), 4.0)
    return DayFactors(
        traffic=calendar_traffic * trend(day),
        paid=paid,
        cvr=cvr,
        cpc=cpc,
        discount=discount,
        multi_item=multi,
        load=load,
        ship_extra=ship_extra,
        transit_extra=transit_extra,
        peak=peak,
        label=label,
    )
