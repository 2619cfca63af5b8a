"""A shop that delivers some of the sources: real runs of `kpi run` over a generated shop whose
other sources are withheld.

An orders-only shop publishes orders, GMV, AOV, the repeat-customer and cross-sell rates (its
numbers equal a plain query over its files); every other KPI is null with what it needs, never
0, and no gate, pace or alert judges it; teams with nothing computable are skipped, not held
back, and the run exits 0. A held-back unit makes `kpi run` exit 1. Once the sessions arrive,
the conversion rate is published and the tree's identity GMV = sessions × CVR × AOV holds.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import SubsetShop, kpi

from pipelines.i18n import _, lang, use
from pipelines.publish.serving import serving_db

#: what an orders-only shop can compute, by hand: the KPIs made of orders and order lines only
ORDERS_ONLY = {
    "gmv",
    "orders",
    "aov",
    "repeat_customer_rate",
    "cross_sell_rate",
    "cod_review_delay",
}
#: what each of the others needs, by hand (the sources it reads beyond orders and order lines)
NEEDS = {
    "net_revenue": "shipments",
    "signoff_rate": "shipments",
    "parcel_signoff_rate": "shipments",
    "refusal_rate": "shipments",
    "return_rate": "shipments",
    "refund_rate": "shipments",
    "delivery_time": "shipments",
    "sessions": "sessions",
    "paid_sessions": "sessions",
    "organic_sessions": "sessions",
    "conversion_rate": "sessions",
    "click_to_session_rate": "sessions, ad spend",
    "ad_clicks": "ad spend",
    "impressions": "ad spend",
    "ctr": "ad spend",
    "ad_spend": "ad spend",
    "cpm": "ad spend",
    "cpc": "ad spend",
    "roas": "ad spend",
    "inquiry_rate": "sessions, customer-service conversations",
    "inquiry_conversion": "customer-service conversations",
    "first_response_mean": "customer-service conversations",
    "first_response_p90": "customer-service conversations",
    "conversation_length": "customer-service conversations",
}
ZONE = "Asia/Shanghai"  # the business time zone (the default)


def _serving(shop: SubsetShop) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(serving_db(shop.settings)), read_only=True)


def _log(shop: SubsetShop) -> dict[str, tuple[str, list[str]]]:
    """unit -> (status, not available) of its newest publication."""
    with _serving(shop) as con:
        rows = con.execute(
            "select unit, status, not_available from main.publication_log order by published_at"
        ).fetchall()
    return {unit: (status, list(missing or [])) for unit, status, missing in rows}


def _by_hand(landing: Path) -> dict[tuple[str, dt.date], dict[str, float]]:
    """(grain, period start) -> the orders KPIs' parts, by plain SQL over the landed files:
    business day in the shop's zone, returning = the customer has an earlier order, cross-sell
    = two or more distinct products."""
    con = duckdb.connect()
    rows = con.execute(
        f"""
        with orders as (
            select order_id, customer_id, cast(created_at as timestamptz) as ts,
                cast(amount as decimal(18, 2)) as amount
            from read_csv('{landing}/orders/*.csv', all_varchar = true)
        ),
        products as (
            select order_id, count(distinct product_id) as n
            from read_csv('{landing}/order_items/*.csv', all_varchar = true) group by 1
        ),
        facts as (
            select
                cast(timezone('{ZONE}', o.ts) as date) as day,
                o.amount,
                exists (select 1 from orders e where e.customer_id = o.customer_id
                        and e.ts < o.ts) as is_returning,
                coalesce(p.n, 0) > 1 as multi
            from orders o left join products p using (order_id)
        )
        select g, period_start, count(*), sum(amount), sum(is_returning::int), sum(multi::int)
        from (
            select 'day' as g, day as period_start, * from facts
            union all
            select 'month', cast(date_trunc('month', day) as date), * from facts
        )
        group by 1, 2
        """
    ).fetchall()
    return {
        (g, start): {"orders": n, "gmv": float(gmv), "returning": r, "multi": m}
        for g, start, n, gmv, r, m in rows
    }


def test_an_orders_only_shop_publishes_what_it_can_and_skips_the_rest(orders_only_shop):
    shop = orders_only_shop
    assert shop.exit_code == 0, shop.output
    log = _log(shop)
    assert {u: s for u, (s, _) in log.items()} == {
        "management": "published",
        "operations": "published",
        "service": "published",
        "kpi_tree": "published",
        # every KPI of theirs needs a source the shop does not deliver: skipped, not held back
        "marketing": "skipped",
        "logistics": "skipped",
    }
    # each unit names what it could not compute, and why
    assert set(log["operations"][1]) == {
        "conversion_rate: needs sessions",
        "inquiry_rate: needs sessions, customer-service conversations",
    }
    assert log["management"][1] == ["net_revenue: needs shipments"]
    assert {line.split(": ")[0] for line in log["marketing"][1]} == {
        k for k, n in NEEDS.items() if k in {"sessions", "paid_sessions", "organic_sessions"}
        or "ad spend" in n
    }  # fmt: skip
    # the absent sources' raw tables exist, empty: the build ran over them
    absent = ("sessions", "ad_spend", "conversations", "shipments")
    with shop.connect() as con:
        counts = {s: con.execute(f"select count(*) from raw.{s}").fetchall()[0][0] for s in absent}
    assert counts == dict.fromkeys(absent, 0)
    # nothing of a skipped unit is published
    with _serving(shop) as con:
        schemas = {r[0] for r in con.execute("select schema_name from duckdb_schemas()").fetchall()}
    assert "marketing" not in schemas and "logistics" not in schemas


def test_its_orders_kpis_equal_a_plain_query_over_its_files(orders_only_shop):
    shop = orders_only_shop
    want = _by_hand(shop.landing)
    with _serving(shop) as con:
        rows = con.execute(
            "select grain, period_start, kpi_id, numerator, denominator, value "
            "from kpi_tree.kpi_values where dimension = 'total' and grain in ('day', 'month') "
            "and kpi_id in ('orders', 'gmv', 'aov', 'repeat_customer_rate', 'cross_sell_rate')"
        ).fetchall()
    got: dict[tuple[str, dt.date], dict[str, tuple]] = {}
    for grain, start, kpi_id, num, den, value in rows:
        got.setdefault((grain, start), {})[kpi_id] = (num, den, value)
    assert set(got) == set(want)  # every day of the 40 and both months
    assert len([k for k in want if k[0] == "day"]) == 40
    for period, parts in want.items():
        kpis = got[period]
        n = parts["orders"]
        assert kpis["orders"][2] == n, period
        assert kpis["gmv"][2] == pytest.approx(parts["gmv"], abs=1e-6), period
        assert kpis["aov"][2] == pytest.approx(parts["gmv"] / n, rel=1e-12), period
        assert kpis["repeat_customer_rate"][:2] == (parts["returning"], n), period
        assert kpis["cross_sell_rate"][:2] == (parts["multi"], n), period
        assert kpis["cross_sell_rate"][2] == pytest.approx(parts["multi"] / n, rel=1e-12)
    # some customers do come back and some orders hold several products: not all zeros
    february = want[("month", dt.date(2025, 2, 1))]
    assert february["returning"] > 0 and february["multi"] > 0


def test_every_kpi_it_cannot_compute_is_null_with_its_reason(orders_only_shop):
    with _serving(orders_only_shop) as con:
        availability = {
            r[0]: r[1:]
            for r in con.execute(
                "select kpi_id, is_available, reason_en, reason_zh from kpi_tree.kpi_availability"
            ).fetchall()
        }
        values = con.execute(
            "select kpi_id, count(*), count(value), count(numerator), count(denominator), "
            "count(*) filter (where missing_sources is null) from kpi_tree.kpi_values "
            "group by kpi_id"
        ).fetchall()
        operations = con.execute(
            "select count(*), count(conversion_rate), count(conversion_rate__numerator), "
            "count(conversion_rate__denominator), count(inquiry_rate), count(orders) "
            "from operations.operations_kpis"
        ).fetchall()[0]
    assert {k for k, (ok, _, _) in availability.items() if ok} == ORDERS_ONLY
    for kpi_id, needs in NEEDS.items():
        ok, en, zh = availability[kpi_id]
        assert not ok and en == f"needs {needs}", kpi_id
        assert zh.startswith("需要") and zh.endswith("数据"), kpi_id
    assert availability["conversion_rate"][2] == "需要流量数据"
    for kpi_id, rows, value, num, den, reasonless in values:
        if kpi_id in ORDERS_ONLY:
            assert reasonless == rows and value > 0, kpi_id
        else:  # published by a team that publishes: a row per period, no number, a reason
            assert kpi_id in NEEDS and rows > 0, kpi_id
            assert (value, num, den, reasonless) == (0, 0, 0, 0), kpi_id
    # the team's own table: the columns of what it cannot compute are empty, never 0
    rows, cvr, cvr_num, cvr_den, inquiry, orders = operations
    assert (cvr, cvr_num, cvr_den, inquiry) == (0, 0, 0, 0)
    assert orders == rows


def test_pace_and_alerts_judge_only_what_can_be_computed(orders_only_shop):
    with _serving(orders_only_shop) as con:
        targeted = {
            r[0]
            for r in con.execute("select distinct kpi_id from kpi_tree.targets_in_force").fetchall()
        }
        paced = {
            r[0]
            for r in con.execute("select distinct kpi_id from kpi_tree.kpi_vs_target").fetchall()
        }
        alerted = {
            r[0]
            for r in con.execute(
                "select distinct kpi_id from main.alerts where kpi_id is not null"
            ).fetchall()
        }
        held = con.execute("select count(*) from main.alerts where kind = 'held_back'").fetchall()
        gmv_alerts = [
            r[0]
            for r in con.execute(
                "select text from main.alerts where kpi_id = 'gmv' and kind in ('short', 'at_risk')"
            ).fetchall()
        ]
    # the plan sets targets down the whole tree, the shop's own data or not
    assert {"net_revenue", "sessions", "conversion_rate", "signoff_rate"} <= targeted
    # but only what the shop can compute is paced, and only that can be alerted on
    assert paced and paced <= ORDERS_ONLY
    assert {"gmv", "aov"} <= paced
    assert alerted and alerted <= ORDERS_ONLY
    assert held[0][0] == 0  # a skipped team is not told its data was held back
    # GMV behind its (ambitious) plan: its explanation says which drivers cannot be computed,
    # and does not call them held back
    assert gmv_alerts
    # (the alerts speak the shop's language: zh_CN, its zone being Asia/Shanghai)
    with use(orders_only_shop.settings.locale):
        needs = "needs sessions" if lang() == "en" else "需要流量数据"
        held_back = _("data held back")
    assert all(needs in text and held_back not in text for text in gmv_alerts), gmv_alerts


def test_kpi_tree_shows_what_is_not_available(orders_only_shop):
    code, output = kpi(orders_only_shop.data_dir, "tree")
    assert code == 0, output
    lines = {line.split()[2]: line for line in output.splitlines() if "流量转化率" in line}
    assert "n/a" in lines["Conversion"] and "needs sessions" in lines["Conversion"]


def test_a_held_back_unit_makes_kpi_run_exit_non_zero(orders_only_shop, tmp_path):
    """A night whose files did not arrive: the gates of the teams that publish fail on the
    missing day and hold them back; `kpi run` exits 1, the last good publication stays."""
    data_dir = tmp_path / "data"
    shutil.copytree(orders_only_shop.data_dir, data_dir)
    shop = SubsetShop(data_dir, {}, orders_only_shop.start, orders_only_shop.end)
    before = _log(shop)
    with _serving(shop) as con:
        gmv_before = con.execute(
            "select sum(value) from management.kpi_values where kpi_id = 'gmv' and grain = 'day'"
        ).fetchall()
    missing_day = shop.end + dt.timedelta(days=1)
    code, output = kpi(data_dir, "run", "--date", missing_day.isoformat())
    assert code == 1, output
    after = _log(shop)
    held = {u for u, (s, _) in after.items() if s == "held_back"}
    assert {"operations", "management"} <= held
    assert after["marketing"][0] == "skipped"  # still nothing to judge there
    with _serving(shop) as con:
        gmv_after = con.execute(
            "select sum(value) from management.kpi_values where kpi_id = 'gmv' and grain = 'day'"
        ).fetchall()
    assert gmv_after == gmv_before  # the last good publication stays
    assert before["management"][0] == "published"


def test_once_sessions_arrive_the_conversion_rate_is_published(orders_only_shop, tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(orders_only_shop.data_dir, data_dir)
    shutil.copytree(orders_only_shop.withheld / "sessions", data_dir / "landing" / "sessions")
    shop = SubsetShop(data_dir, {}, orders_only_shop.start, orders_only_shop.end)
    code, output = kpi(data_dir, "run")
    assert code == 0, output
    log = _log(shop)
    assert log["marketing"][0] == "published" and log["operations"][0] == "published"
    assert not any(line.startswith("conversion_rate:") for line in log["operations"][1])
    # sessions by business day, by hand from the files
    landing = shop.landing
    sessions = dict(
        duckdb.connect()
        .execute(
            f"select cast(timezone('{ZONE}', cast(hour_start as timestamptz)) as date), "
            f"sum(cast(sessions as bigint)) from read_csv('{landing}/sessions/*.csv', "
            "all_varchar = true) group by 1"
        )
        .fetchall()
    )
    orders = {p: v["orders"] for (g, p), v in _by_hand(landing).items() if g == "day"}
    with _serving(shop) as con:
        published = {
            (kpi_id, day): (num, den, value)
            for kpi_id, day, num, den, value in con.execute(
                "select kpi_id, period_start, numerator, denominator, value "
                "from kpi_tree.kpi_values where grain = 'day' and dimension = 'total' "
                "and kpi_id in ('conversion_rate', 'sessions', 'gmv', 'aov')"
            ).fetchall()
        }
        availability = dict(
            con.execute("select kpi_id, reason_en from kpi_tree.kpi_availability").fetchall()
        )
    assert availability["conversion_rate"] is None and availability["sessions"] is None
    assert availability["ctr"] == "needs ad spend"
    assert availability["inquiry_rate"] == "needs customer-service conversations"
    for day in orders:
        num, den, value = published[("conversion_rate", day)]
        assert (num, den) == (orders[day], sessions[day]), day
        assert value == pytest.approx(orders[day] / sessions[day], rel=1e-12)
        # the tree's identity holds in what was published: GMV = sessions × CVR × AOV
        product = (
            published[("sessions", day)][2]
            * published[("conversion_rate", day)][2]
            * published[("aov", day)][2]
        )
        assert product == pytest.approx(published[("gmv", day)][2], rel=1e-9)


def test_the_run_summary_says_what_a_unit_needs_from_the_published_reasons(orders_only_shop):
    """`kpi run`'s summary reads the serving file's reasons once for every unit (not once per
    unit) and names what each KPI needs in the active language."""
    from pipelines.cli.run import _not_available_text, _published_availability

    availability = _published_availability(orders_only_shop.settings)
    assert availability["conversion_rate"].reason("en") == "needs sessions"
    text = _not_available_text(
        availability, {"conversion_rate": "the gate's words", "ctr": "the gate's words"}
    )
    # the published reasons, not the gate's; one reason, its KPIs grouped
    assert "the gate's words" not in text
    needs = "needs sessions" if lang() == "en" else "需要流量数据"
    assert text.count(needs) == 1 and needs in text
    # without a serving file the gate's own words are said
    assert _not_available_text({}, {"ctr": "the gate's words"}).startswith("the gate's words")
