"""A missing source day stays visible until repaired: the sample shop's own missing sessions
day holds marketing and operations back on every later night, its KPIs are unknown (null,
never 0) that day, and once an operator accepts it the units publish with the month computed
over the days that have sessions and flagged incomplete. Values recomputed by plain SQL over
the raw tables."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from conftest import kpi

from expectations.gaps import read_accepted
from pipelines.publish.serving import serving_db


def _gap_day(shop) -> dt.date:
    days = [
        dt.date.fromisoformat(f["date"])
        for f in shop.manifest["file_faults"]
        if f["fault"] == "missing_day" and f["source"] == "sessions"
    ]
    assert len(days) == 1, shop.manifest["file_faults"]
    return days[0]


def _by_hand(shop, gap: dt.date) -> dict[str, float]:
    """The gap's month, by plain SQL over the raw tables: sessions (the newest delivery of each
    hour x channel x campaign x landing page; paid: the sample's paid channels), orders
    (distinct ids) and ad clicks (the newest of each date x channel x campaign), over the
    month's days that have sessions."""
    month = gap.replace(day=1)
    with shop.connect() as con:
        return dict(
            zip(
                ("sessions", "paid_sessions", "orders", "clicks", "gap_sessions"),
                con.execute(
                    """
                    with s as (
                        select business_date, channel, sessions from raw.sessions
                        qualify row_number() over (
                            partition by hour_start, channel, campaign, landing_page
                            order by _partition_date desc, _file desc, _row desc) = 1
                    ),
                    a as (
                        select business_date, clicks from raw.ad_spend
                        qualify row_number() over (partition by date, channel, campaign
                            order by _partition_date desc, _file desc, _row desc) = 1
                    ),
                    days as (select distinct business_date from s
                             where date_trunc('month', business_date) = $month)
                    select
                        (select sum(sessions) from s where business_date in (from days)),
                        (select sum(sessions) from s where business_date in (from days)
                         and channel in ('paid_search', 'feed_ads', 'social')),
                        (select count(distinct order_id) from raw.orders
                         where business_date in (from days)),
                        (select sum(clicks) from a where business_date in (from days)),
                        (select count(*) from s where business_date = $gap)
                    """,
                    {"month": month, "gap": gap},
                ).fetchone(),
                strict=True,
            )
        )


def _published(shop, sql: str, params: list) -> list[tuple]:
    with duckdb.connect(str(serving_db(shop.settings)), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_a_missing_day_holds_back_until_accepted_then_publishes_unknown(shop_copy):
    shop = shop_copy
    gap = _gap_day(shop)
    assert shop.start < gap < shop.end

    # the next night covers only its own day: the hole still holds both units back
    night = shop.run(shop.end, shop.end)
    assert night.ok, night.error
    assert {"marketing", "operations"} <= set(night.held_back)

    code, output = kpi(shop.data_dir, "gaps", "accept", "sessions", str(shop.end), "--reason", "x")
    assert code == 1, output  # not a missing day: nothing recorded
    assert read_accepted(shop.settings.warehouse_dir) == []
    code, output = kpi(
        shop.data_dir, "gaps", "accept", "sessions", gap.isoformat(), "--reason", "tracker down"
    )
    assert code == 0, output
    [accepted] = read_accepted(shop.settings.warehouse_dir)
    assert (accepted.source, accepted.day, accepted.reason) == ("sessions", gap, "tracker down")

    night = shop.run(shop.end, shop.end)
    assert night.ok, night.error
    assert not {"marketing", "operations"} & set(night.held_back), night.held_back
    assert {"marketing", "operations"} <= set(night.published)

    hand = _by_hand(shop, gap)
    assert hand["gap_sessions"] == 0  # the sample really has no sessions that day
    # the day: unknown, with the source that is missing, never 0
    day = {
        k: (num, den, value, missing, sources)
        for k, num, den, value, missing, sources in _published(
            shop,
            "select kpi_id, numerator, denominator, value, missing_days, gap_sources "
            "from marketing.kpi_values where grain = 'day' and dimension = 'total' "
            "and period_start = ? and kpi_id in ('sessions', 'click_to_session_rate')",
            [gap],
        )
    }
    assert day == {
        "sessions": (None, None, None, 1, "sessions"),
        "click_to_session_rate": (None, None, None, 1, "sessions"),
    }
    # the month: over the days that have sessions, flagged with the one missing
    month = {
        k: (num, den, missing)
        for k, num, den, missing in _published(
            shop,
            "select kpi_id, numerator, denominator, missing_days from operations.kpi_values "
            "where grain = 'month' and dimension = 'total' and period_start = ? "
            "and kpi_id = 'conversion_rate' union all "
            "select kpi_id, numerator, denominator, missing_days from marketing.kpi_values "
            "where grain = 'month' and dimension = 'total' and period_start = ? "
            "and kpi_id in ('sessions', 'click_to_session_rate')",
            [gap.replace(day=1), gap.replace(day=1)],
        )
    }
    assert month["sessions"][0] == pytest.approx(hand["sessions"])
    assert month["conversion_rate"][:2] == pytest.approx((hand["orders"], hand["sessions"]))
    assert month["click_to_session_rate"][:2] == pytest.approx(
        (hand["paid_sessions"], hand["clicks"])
    )
    assert {m[2] for m in month.values()} == {1}
