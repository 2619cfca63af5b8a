"""The KPI tree as built by the real nightly job: identities, independent recomputation,
roll-ups, reruns, late facts, and formulas that live only in the YAML."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
import yaml
from conftest import Shop
from dbt_runs import dbt_over_window as _dbt_over_window

from kpi_tree.dbt_export import DBT_PROJECT_DIR, render_macro, write_models
from kpi_tree.model import TREE_FILE, default_tree, parse_tree

REL = 1e-9

# --- independent reference queries, straight from the raw tables (not the models) ----------

ORDERS = """
    select * from (
        select *, row_number() over (partition by order_id order by _partition_date desc,
                                     _file desc, _row desc) as k
        from raw.orders) where k = 1
"""
LATEST_SHIPMENTS = f"""
    select s.*, o.business_date as order_day, o.amount as order_amount from (
        select *, row_number() over (partition by shipment_id
                                     order by updated_at desc, _partition_date desc) as k
        from raw.shipments) s
    join ({ORDERS}) o using (order_id)
    where s.k = 1
"""


def kpi_frame(con) -> pl.DataFrame:
    return con.sql("select * from kpi.fct_kpi_values").pl()


def lookup(df: pl.DataFrame, **where) -> pl.DataFrame:
    out = df
    for col, val in where.items():
        out = out.filter(pl.col(col) == val)
    return out


def close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


# --- identities --------------------------------------------------------------------------------


def test_every_identity_holds_at_every_grain_and_slice(built_shop):
    tree = default_tree()
    with built_shop.connect() as con:
        kpi = kpi_frame(con)
    keys = ["grain", "period_start", "dimension", "member"]
    checked = 0
    for parent, relation, kids in tree.identities():
        # a period missing a source's day on either side is computed over other days and
        # flagged incomplete (missing_days): no identity is claimed there
        complete = kpi.filter(pl.col("missing_days") == 0)
        joined = lookup(complete, kpi_id=parent.id).select(*keys, pl.col("value").alias("parent"))
        for kid in kids:
            joined = joined.join(
                lookup(complete, kpi_id=kid.id).select(*keys, pl.col("value").alias(kid.id)),
                on=keys,
            )
        joined = joined.drop_nulls()
        if relation == "product":
            combined = pl.reduce(lambda a, b: a * b, [pl.col(k.id) for k in kids])
        else:
            combined = pl.sum_horizontal([pl.col(k.id) for k in kids])
        bad = joined.with_columns(combined.alias("children")).filter(
            (pl.col("parent") - pl.col("children")).abs()
            > REL * pl.max_horizontal(pl.lit(1.0), pl.col("parent").abs())
        )
        assert bad.height == 0, (parent.id, bad.head())
        assert set(joined["grain"]) == {"day", "week", "month"}, parent.id
        checked += joined.height
    assert checked > 10_000


# --- values against straightforward queries over the raw tables -----------------------------


def test_daily_gmv_and_orders_equal_raw_orders(built_shop):
    with built_shop.connect() as con:
        ref = con.execute(
            f"select business_date, sum(amount), count(*) from ({ORDERS}) group by 1"
        ).fetchall()
        kpi = kpi_frame(con)
    gmv = {
        r["period_start"]: r["value"]
        for r in lookup(kpi, grain="day", kpi_id="gmv", dimension="total").iter_rows(named=True)
    }
    orders = {
        r["period_start"]: r["value"]
        for r in lookup(kpi, grain="day", kpi_id="orders", dimension="total").iter_rows(named=True)
    }
    assert len(ref) == built_shop.manifest["parameters"]["days"]
    for day, amount, count in ref:
        assert close(gmv[day], float(amount)), day
        assert orders[day] == count


def test_monthly_conversion_by_channel_equals_raw_orders_over_raw_sessions(built_shop):
    with built_shop.connect() as con:
        ref = con.execute(f"""
            -- over the days that have sessions: a day without is unknown, not 0
            with o as (select date_trunc('month', business_date) m, channel, count(*) n
                       from ({ORDERS})
                       where business_date in (select business_date from raw.sessions)
                       group by all),
                 s as (select date_trunc('month', business_date) m, channel, sum(sessions) n
                       from raw.sessions group by all)
            select o.m, o.channel, o.n, s.n from o join s using (m, channel)
        """).fetchall()
        kpi = kpi_frame(con)
    assert len(ref) >= 15
    for month, channel, n_orders, n_sessions in ref:
        row = lookup(
            kpi,
            grain="month",
            period_start=month.date() if hasattr(month, "date") else month,
            kpi_id="conversion_rate",
            dimension="channel",
            member=channel,
        ).row(0, named=True)
        assert (row["numerator"], row["denominator"]) == (n_orders, n_sessions)
        assert close(row["value"], n_orders / n_sessions)


def test_weekly_ctr_by_campaign_equals_raw_ad_spend(built_shop):
    with built_shop.connect() as con:
        ref = con.execute("""
            select date_trunc('week', date)::date, campaign, sum(clicks), sum(impressions)
            from raw.ad_spend group by all
        """).fetchall()
        kpi = lookup(kpi_frame(con), grain="week", kpi_id="ctr", dimension="campaign")
    by_key = {(r["period_start"], r["member"]): r for r in kpi.iter_rows(named=True)}
    assert len(ref) > 100
    for week, campaign, clicks, impressions in ref:
        row = by_key[(week, campaign)]
        assert close(row["value"], clicks / impressions), (week, campaign)


def test_first_response_p90_equals_numpy_over_raw_conversations(built_shop):
    with built_shop.connect() as con:
        conv = con.sql("""
            select business_date, agent_id,
                   epoch(first_response_at) - epoch(started_at) as seconds
            from raw.conversations where first_response_at is not null
        """).pl()
        kpi = kpi_frame(con)
    march = conv.filter(pl.col("business_date").dt.month() == 3)
    want = float(np.percentile(march["seconds"].to_numpy(), 90))
    got = lookup(
        kpi,
        grain="month",
        period_start=dt.date(2025, 3, 1),
        kpi_id="first_response_p90",
        dimension="total",
    ).row(0, named=True)["value"]
    assert close(got, want, 1e-6)
    agent = march.filter(pl.col("agent_id") == "agent_03")["seconds"].to_numpy()
    got_agent = lookup(
        kpi,
        grain="month",
        period_start=dt.date(2025, 3, 1),
        kpi_id="first_response_p90",
        dimension="agent",
        member="agent_03",
    ).row(0, named=True)["value"]
    assert close(got_agent, float(np.percentile(agent, 90)), 1e-6)


def test_signoff_rate_and_net_revenue_follow_the_order_date_cohort(built_shop):
    with built_shop.connect() as con:
        signed = dict(
            con.execute(
                f"select order_day, sum(order_amount) from ({LATEST_SHIPMENTS}) "
                "where status = 'signed' group by 1"
            ).fetchall()
        )
        gmv = dict(
            con.execute(f"select business_date, sum(amount) from ({ORDERS}) group by 1").fetchall()
        )
        kpi = kpi_frame(con)
    day = built_shop.start + dt.timedelta(days=30)
    net = lookup(kpi, grain="day", period_start=day, kpi_id="net_revenue", dimension="total").row(
        0, named=True
    )
    rate = lookup(kpi, grain="day", period_start=day, kpi_id="signoff_rate", dimension="total").row(
        0, named=True
    )
    assert close(net["value"], float(signed[day]))
    assert close(rate["value"], float(signed[day]) / float(gmv[day]))
    assert 0.8 < rate["value"] < 1.0  # a realistic shop signs off most of its GMV


def test_inquiry_conversion_by_agent_equals_raw_conversations(built_shop):
    with built_shop.connect() as con:
        ref = con.execute(f"""
            select c.agent_id, count(*), count(o.order_id)
            from raw.conversations c left join ({ORDERS}) o using (order_id)
            where c.topic = 'presale' and date_trunc('month', c.business_date) = date '2025-02-01'
            group by 1
        """).fetchall()
        kpi = lookup(
            kpi_frame(con),
            grain="month",
            period_start=dt.date(2025, 2, 1),
            kpi_id="inquiry_conversion",
            dimension="agent",
        )
    by_agent = {r["member"]: r for r in kpi.iter_rows(named=True)}
    assert len(ref) == 12
    for agent, inquiries, ordered in ref:
        assert (by_agent[agent]["numerator"], by_agent[agent]["denominator"]) == (
            ordered,
            inquiries,
        )


def test_month_ratios_are_sums_of_day_parts_not_averages(built_shop):
    with built_shop.connect() as con:
        kpi = kpi_frame(con)
    tree = default_tree()
    ratios = [n for n in tree.nodes.values() if n.kind == "ratio"]
    month = dt.date(2025, 3, 1)
    days = kpi.filter(
        (pl.col("grain") == "day")
        & (pl.col("period_start") >= month)
        & (pl.col("period_start") < dt.date(2025, 4, 1))
    )
    differs_from_mean = 0
    for node in ratios:
        parts = lookup(days, kpi_id=node.id, dimension="total")
        row = lookup(kpi, grain="month", period_start=month, kpi_id=node.id, dimension="total").row(
            0, named=True
        )
        num, den = parts["numerator"].sum(), parts["denominator"].sum()
        assert close(row["numerator"], num) and close(row["denominator"], den), node.id
        assert close(row["value"], node.scale * num / den), node.id
        mean = parts["value"].mean()
        differs_from_mean += not close(row["value"], mean, 1e-6)
    assert differs_from_mean >= len(ratios) // 2


# --- reruns and late facts ---------------------------------------------------------------------


def test_rerunning_a_day_leaves_every_kpi_value_unchanged(shop_copy):
    cols = (
        "grain, period_start, kpi_id, dimension, member, numerator, denominator, value, "
        "is_provisional"
    )
    with shop_copy.connect() as con:
        before = con.execute(f"select {cols} from kpi.fct_kpi_values order by all").fetchall()
    day = shop_copy.start + dt.timedelta(days=40)
    outcome = shop_copy.run(day, day)
    assert outcome.ok, outcome.error
    with shop_copy.connect() as con:
        after = con.execute(f"select {cols} from kpi.fct_kpi_values order by all").fetchall()
    assert len(after) == len(before)
    assert after == before


def mart_mismatches(con) -> list[tuple]:
    """Rows where a team mart (incremental: each run replaces only its periods) disagrees
    with the KPI values it pivots: a value, or the provisional mark (any of its KPIs)."""
    tree = default_tree()
    bad: list[tuple] = []
    for team in tree.teams:
        nodes = [n.id for n in tree.nodes.values() if n.team == team]
        if not nodes:
            continue
        ids = ", ".join(f"'{n}'" for n in nodes)
        unit = tree.teams[team]["mart"]
        key = "grain, period_start, dimension, member"
        for node in nodes:
            bad += con.execute(
                f"""
                select '{team}', '{node}', {key}, m.v, k.value
                from (select {key}, {node} as v from {unit}.{unit}_kpis) m
                full join (select {key}, value from kpi.fct_kpi_values where kpi_id = '{node}') k
                using (grain, period_start, dimension, member)
                where m.v is distinct from k.value
                """
            ).fetchall()
        bad += con.execute(
            f"""
            select '{team}', 'is_provisional', {key}, m.is_provisional, k.p
            from {unit}.{unit}_kpis m
            join (select {key}, bool_or(is_provisional) as p from kpi.fct_kpi_values
                  where kpi_id in ({ids}) group by all) k
            using (grain, period_start, dimension, member)
            where m.is_provisional <> k.p
            """
        ).fetchall()
    return bad


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_csv(path)


def test_late_shipment_update_restates_its_cohort_and_matures(shop_copy):
    end = shop_copy.end
    with shop_copy.connect() as con:
        pending = con.execute(
            f"""
            select shipment_id, order_id, carrier, payment_method, shipped_at, order_day,
                   order_amount
            from ({LATEST_SHIPMENTS}) where status = 'shipped' and order_day < ?
            order by order_day desc, shipment_id limit 1
        """,
            [end - dt.timedelta(days=2)],
        ).fetchall()[0]
        kpi = kpi_frame(con)
    shipment_id, order_id, carrier, payment, shipped_at, day, amount = pending
    before = lookup(
        kpi, grain="day", period_start=day, kpi_id="net_revenue", dimension="total"
    ).row(0, named=True)
    assert before["is_provisional"]

    late_day = end + dt.timedelta(days=1)
    signed_at = dt.datetime.combine(late_day, dt.time(3, 0))  # 11:00 in Shanghai
    _write_csv(
        shop_copy.landing / "shipments" / f"shipments_{late_day}.csv",
        [
            {
                "shipment_id": shipment_id,
                "order_id": order_id,
                "carrier": carrier,
                "payment_method": payment,
                "status": "signed",
                "shipped_at": shipped_at.isoformat() + "Z",
                "delivered_at": signed_at.isoformat() + "Z",
                "returned_at": None,
                "refund_amount": 0,
                "updated_at": signed_at.isoformat() + "Z",
            }
        ],
    )
    outcome = shop_copy.run(late_day, late_day)
    assert outcome.ok, outcome.error
    with shop_copy.connect() as con:
        after = lookup(
            kpi_frame(con), grain="day", period_start=day, kpi_id="net_revenue", dimension="total"
        ).row(0, named=True)
    assert close(after["value"], before["value"] + float(amount))
    assert after["is_provisional"]
    with shop_copy.connect() as con:
        assert mart_mismatches(con) == []

    # 30 days later (maturity_days), with a new day of orders, the cohort is final
    mature_day = day + dt.timedelta(days=default_tree().maturity_days)
    mature_day = max(mature_day, late_day + dt.timedelta(days=1))
    _write_csv(
        shop_copy.landing / "orders" / f"orders_{mature_day}.csv",
        [
            {
                "order_id": "late-test-1",
                "customer_id": "c-late",
                "created_at": f"{mature_day}T04:00:00Z",
                "channel": "direct",
                "campaign": None,
                "payment_method": "prepaid",
                "amount": 10.0,
                "reviewed_at": f"{mature_day}T04:01:00Z",
            }
        ],
    )
    outcome = shop_copy.run(mature_day, mature_day)
    assert outcome.ok, outcome.error
    with shop_copy.connect() as con:
        final = lookup(
            kpi_frame(con), grain="day", period_start=day, kpi_id="net_revenue", dimension="total"
        ).row(0, named=True)
    assert close(final["value"], after["value"])
    assert not final["is_provisional"]
    with shop_copy.connect() as con:
        assert mart_mismatches(con) == []
        # the management mart's row of that day matured with it
        [(mart_provisional,)] = con.execute(
            "select is_provisional from management.management_kpis where grain = 'day' "
            "and period_start = ? and dimension = 'total'",
            [day],
        ).fetchall()
    assert not mart_provisional


LATEST_DELIVERY = """
    select * exclude (k) from (
        select *, row_number() over (partition by {keys}
                                     order by _partition_date desc, _file desc, _row desc) as k
        from raw.{source}
    ) where k = 1
"""


def staging_mismatches(con) -> dict[str, int]:
    """Rows where an incremental staging table differs from a plain latest-delivery query
    over its raw table (the whole history), both ways."""
    out = {}
    for source, keys, cols in (
        ("orders", "order_id", "order_id, customer_id, amount::decimal(18,2), _partition_date"),
        ("order_items", "order_id, line_no", "order_id, line_no, quantity, _partition_date"),
        ("conversations", "conversation_id", "conversation_id, agent_id, topic, _partition_date"),
    ):
        mine = cols.replace("_partition_date", "delivered_on").replace("::decimal(18,2)", "")
        ref = f"(select {cols} from ({LATEST_DELIVERY.format(keys=keys, source=source)}))"
        table = f"(select {mine} from staging.stg_shop__{source})"
        out[source] = rows_differing(con, ref, table)
    return out


def rows_differing(con, a: str, b: str) -> int:
    """Rows of query `a` not in query `b` and of `b` not in `a`, duplicates counted."""
    return con.execute(
        f"""
        select count(*) from (
            (select * from ({a}) except all select * from ({b}))
            union all
            (select * from ({b}) except all select * from ({a}))
        )
        """
    ).fetchall()[0][0]


# the intermediate tables, derived plainly from the staging tables (whole history): what a
# first build gives, whatever nights and reruns came before
EXPECTED_INTERMEDIATE = {
    "int_orders_enriched": """
        select o.order_id, o.amount,
               (select count(*) from staging.stg_shop__order_items i
                where i.order_id = o.order_id) as line_count,
               (select count(distinct i.product_id) from staging.stg_shop__order_items i
                where i.order_id = o.order_id) as distinct_products,
               case when exists (select 1 from staging.stg_shop__orders p
                                 where p.customer_id = o.customer_id
                                   and p.created_at < o.created_at)
                    then 'returning' else 'new' end as customer_type,
               greatest(o.delivered_on,
                        coalesce((select max(i.delivered_on) from staging.stg_shop__order_items i
                                  where i.order_id = o.order_id), o.delivered_on),
                        (select p.delivered_on from staging.stg_shop__orders p
                         where p.customer_id = o.customer_id
                         order by p.created_at limit 1)) as delivered_on
        from staging.stg_shop__orders o
        """,
    "int_customers": """
        select customer_id, min(created_at) as first_order_at, max(delivered_on) as delivered_on
        from staging.stg_shop__orders group by customer_id
        """,
    "int_shipments_latest": """
        select s.shipment_id, s.status, o.business_date as order_business_date,
               o.amount as order_amount,
               greatest(s.last_delivery, o.delivered_on) as delivered_on
        from (select *, max(delivered_on) over (partition by shipment_id) as last_delivery,
                     row_number() over (partition by shipment_id
                                        order by updated_at desc, delivered_on desc) as k
              from staging.stg_shop__shipments) s
        left join staging.stg_shop__orders o using (order_id)
        where s.k = 1
        """,
    "int_conversations_enriched": """
        select c.conversation_id, c.agent_id, o.order_id is not null as led_to_order,
               greatest(c.delivered_on, coalesce(o.delivered_on, c.delivered_on)) as delivered_on
        from staging.stg_shop__conversations c
        left join staging.stg_shop__orders o using (order_id)
        """,
}


def intermediate_mismatches(con) -> dict[str, int]:
    """Rows where an incremental intermediate table differs from its plain derivation, both
    ways (the columns of EXPECTED_INTERMEDIATE's queries)."""
    out = {}
    for table, query in EXPECTED_INTERMEDIATE.items():
        cols = ", ".join(c[0] for c in con.execute(f"select * from ({query}) limit 0").description)
        out[table] = rows_differing(con, query, f"select {cols} from intermediate.{table}")
    return out


def daily_gmv(con, day: dt.date) -> float:
    return con.execute(
        "select value from kpi.fct_kpi_values where grain = 'day' and kpi_id = 'gmv' "
        "and dimension = 'total' and period_start = ?",
        [day],
    ).fetchall()[0][0]


def kept_delivery(con, order_id: str) -> list[tuple]:
    return con.execute(
        "select amount, delivered_on from staging.stg_shop__orders where order_id = ?",
        [order_id],
    ).fetchall()


def test_staging_keeps_each_keys_latest_delivery_as_days_are_rerun(shop_copy):
    """Orders are incremental tables: a re-delivered order replaces its row, a rerun of its
    first day keeps the later delivery, a rerun of the later day without it restores the
    earlier delivery, and a key that disappears is deleted."""
    late = shop_copy.end + dt.timedelta(days=1)
    with shop_copy.connect() as con:
        [(order_id, customer, created, channel, payment, amount, reviewed, day, first)] = (
            con.execute(
                "select order_id, customer_id, created_at, channel, payment_method, amount, "
                "reviewed_at, business_date, delivered_on from staging.stg_shop__orders "
                "where business_date = ? and campaign is null order by order_id limit 1",
                [shop_copy.end - dt.timedelta(days=5)],
            ).fetchall()
        )
        gmv_before = daily_gmv(con, day)

    def order(oid: str, cust: str, at: dt.datetime, amt: float, seen=None) -> dict:
        seen = seen if oid == order_id else at + dt.timedelta(minutes=1)
        return {
            "order_id": oid,
            "customer_id": cust,
            "created_at": at.isoformat() + "Z",
            "channel": channel,
            "campaign": None,
            "payment_method": payment,
            "amount": amt,
            "reviewed_at": seen.isoformat() + "Z" if seen else None,
        }

    new_at = dt.datetime.combine(late, dt.time(4, 0))
    redelivery = shop_copy.landing / "orders" / f"orders_{late}.csv"
    _write_csv(
        redelivery,
        [
            order(order_id, customer, created, float(amount) + 100, reviewed),
            order("x-1", "c-x", new_at, 5),
        ],
    )
    assert shop_copy.run(late, late).ok
    with shop_copy.connect() as con:
        row = kept_delivery(con, order_id)
        gmv = daily_gmv(con, day)
        assert staging_mismatches(con) == {"orders": 0, "order_items": 0, "conversations": 0}
    assert row == [(amount + 100, late)]
    assert close(gmv, gmv_before + 100)

    # the order's first delivery day run again: the later delivery still wins
    assert shop_copy.run(first, first).ok
    with shop_copy.connect() as con:
        assert kept_delivery(con, order_id) == [(amount + 100, late)]
        assert staging_mismatches(con) == {"orders": 0, "order_items": 0, "conversations": 0}

    # the day delivered again without the re-delivery nor x-1: the order is back to its
    # earlier delivery, x-1 is gone
    _write_csv(redelivery, [order("x-2", "c-x", new_at, 7)])
    assert shop_copy.run(late, late).ok
    with shop_copy.connect() as con:
        row = kept_delivery(con, order_id)
        gone = con.execute(
            "select count(*) from staging.stg_shop__orders where order_id = 'x-1'"
        ).fetchall()[0][0]
        enriched = con.execute(
            "select order_id, amount from intermediate.int_orders_enriched "
            "where order_id in (?, 'x-1', 'x-2') order by order_id",
            [order_id],
        ).fetchall()
        gmv = daily_gmv(con, day)
        assert staging_mismatches(con) == {"orders": 0, "order_items": 0, "conversations": 0}
    assert row[0][0] == amount and row[0][1] < late
    assert gone == 0
    assert [r[0] for r in enriched] == sorted([order_id, "x-2"])
    assert close(gmv, gmv_before)


def test_intermediate_rows_follow_late_and_withdrawn_deliveries(shop_copy):
    """The intermediate tables rebuild the rows a night's deliveries touch, however old, and
    nothing else: an earlier first order turns a customer's orders into returning ones, a late
    line joins its basket, an order delivered after its inquiry converts it, a shipment
    delivered before its order waits without a cohort and takes its order's once the order
    turns up; a rerun of a night without its orders and lines takes them back. After every
    night the tables equal their plain derivation from staging."""
    late = shop_copy.end + dt.timedelta(days=1)
    with shop_copy.connect() as con:
        # a customer's first order, at least 20 days old, with a later order of theirs
        [(customer, first_id, first_at, later_id)] = con.execute(
            """
            select customer_id, arg_min(order_id, created_at), min(created_at),
                   arg_max(order_id, created_at)
            from staging.stg_shop__orders group by customer_id
            having count(*) > 1 and min(business_date) <= ?
            order by customer_id limit 1
            """,
            [shop_copy.end - dt.timedelta(days=20)],
        ).fetchall()
        [(basket_id, lines, product, category)] = con.execute(
            """
            select order_id, count(*), any_value(product_id), any_value(category)
            from staging.stg_shop__order_items i join staging.stg_shop__orders o using (order_id)
            where o.business_date = ? group by order_id order by order_id limit 1
            """,
            [shop_copy.end - dt.timedelta(days=40)],
        ).fetchall()
        types = dict(
            con.execute(
                "select order_id, customer_type from intermediate.int_orders_enriched "
                "where order_id in (?, ?)",
                [first_id, later_id],
            ).fetchall()
        )
        assert intermediate_mismatches(con) == dict.fromkeys(EXPECTED_INTERMEDIATE, 0)
    assert types == {first_id: "new", later_id: "returning"}

    def order(oid: str, cust: str, at: dt.datetime) -> dict:
        return {
            "order_id": oid,
            "customer_id": cust,
            "created_at": at.isoformat() + "Z",
            "channel": "direct",
            "campaign": None,
            "payment_method": "prepaid",
            "amount": 50.0,
            "reviewed_at": None,
        }

    inquiry_at = dt.datetime.combine(late, dt.time(2, 0))
    orders_file = shop_copy.landing / "orders" / f"orders_{late}.csv"
    items_file = shop_copy.landing / "order_items" / f"order_items_{late}.csv"
    _write_csv(orders_file, [order("early-1", customer, first_at - dt.timedelta(days=3))])
    _write_csv(
        items_file,
        [
            {
                "order_id": basket_id,
                "line_no": lines + 1,
                "product_id": product,
                "category": category,
                "quantity": 1,
                "unit_price": 9.0,
                "line_amount": 9.0,
            }
        ],
    )
    _write_csv(
        shop_copy.landing / "conversations" / f"conversations_{late}.csv",
        [
            {
                "conversation_id": "inquiry-1",
                "customer_id": "c-inquiry",
                "agent_id": "agent_01",
                "topic": "presale",
                "started_at": inquiry_at.isoformat(),
                "first_response_at": inquiry_at.isoformat(),
                "ended_at": (inquiry_at + dt.timedelta(minutes=5)).isoformat(),
                "messages": 3,
                "order_id": "after-1",
                "satisfaction": None,
            }
        ],
    )

    shipments_file = shop_copy.landing / "shipments" / f"shipments_{late}.csv"
    _write_csv(
        shipments_file,
        [
            {
                "shipment_id": "ship-after-1",
                "order_id": "after-1",
                "carrier": "sf_express",
                "payment_method": "prepaid",
                "status": "shipped",
                "shipped_at": inquiry_at.isoformat() + "Z",
                "delivered_at": None,
                "returned_at": None,
                "refund_amount": 0,
                "updated_at": inquiry_at.isoformat() + "Z",
            }
        ],
    )

    def cohort(con) -> list:
        return con.execute(
            "select order_business_date, order_amount, delivered_on "
            "from intermediate.int_shipments_latest where shipment_id = 'ship-after-1'"
        ).fetchall()

    def state(con) -> tuple:
        orders = dict(
            con.execute(
                "select order_id, customer_type from intermediate.int_orders_enriched "
                "where order_id in (?, ?, 'early-1')",
                [first_id, later_id],
            ).fetchall()
        )
        [(line_count,)] = con.execute(
            "select line_count from intermediate.int_orders_enriched where order_id = ?",
            [basket_id],
        ).fetchall()
        led = con.execute(
            "select led_to_order from intermediate.int_conversations_enriched "
            "where conversation_id = 'inquiry-1'"
        ).fetchall()
        return orders, line_count, led

    assert shop_copy.run(late, late).ok
    with shop_copy.connect() as con:
        assert state(con) == (
            {"early-1": "new", first_id: "returning", later_id: "returning"},
            lines + 1,
            [(False,)],
        )
        assert cohort(con) == [(None, None, late)]
        assert intermediate_mismatches(con) == dict.fromkeys(EXPECTED_INTERMEDIATE, 0)

    # the next night the inquiry's order turns up: the conversation delivered the night
    # before now led to an order, and the shipment delivered then is in the order's cohort
    after = late + dt.timedelta(days=1)

    def second_night(order_id: str, customer: str, led: bool, shipment_cohort: tuple) -> None:
        """The second night (again) with one order: the inquiry's, or another."""
        _write_csv(
            shop_copy.landing / "orders" / f"orders_{after}.csv",
            [order(order_id, customer, dt.datetime.combine(after, dt.time(1, 0)))],
        )
        assert shop_copy.run(after, after).ok
        with shop_copy.connect() as con:
            assert state(con)[2] == [(led,)]
            assert cohort(con) == [shipment_cohort]
            assert intermediate_mismatches(con) == dict.fromkeys(EXPECTED_INTERMEDIATE, 0)

    second_night("after-1", "c-inquiry", True, (after, 50.0, after))

    # the first night's orders delivered again without the early one, its lines without the
    # late one: the first order is first again, the basket loses its late line; the shipment,
    # still delivered, keeps its order's cohort
    _write_csv(orders_file, [order("other-1", "c-other", inquiry_at)])
    items_file.unlink()
    assert shop_copy.run(late, late).ok
    with shop_copy.connect() as con:
        assert state(con) == (
            {first_id: "new", later_id: "returning"},
            lines,
            [(True,)],
        )
        assert cohort(con) == [(after, 50.0, after)]
        assert intermediate_mismatches(con) == dict.fromkeys(EXPECTED_INTERMEDIATE, 0)

    # the second night delivered again without the inquiry's order: the conversation and the
    # shipment, delivered the night before, were derived from that night's delivery; they are
    # rebuilt without it (no order, no cohort)
    second_night("other-2", "c-other", False, (None, None, late))


# --- formulas live in the YAML only ------------------------------------------------------------


def test_changing_a_formula_in_the_yaml_changes_the_numbers_by_regenerating_the_models(
    shop_copy, tmp_path
):
    """A formula changed in tree.yaml reaches the numbers through the generated models
    (`python -m kpi_tree.dbt_export`) alone: no hand-written SQL is edited."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    data = yaml.safe_load(TREE_FILE.read_text(encoding="utf-8"))
    data["measures"]["multi_item_orders"]["expr"] = (
        "case when distinct_products > 2 then 1 else 0 end"
    )
    data["nodes"]["cross_sell_rate"]["formula"]["scale"] = 100  # as a percentage
    tree = parse_tree(data)
    (project / "macros" / "generated" / "kpi_tree_definition.sql").write_text(
        render_macro(tree), encoding="utf-8"
    )
    written = {p.relative_to(project) for p in write_models(tree, project)}
    assert Path("models/marts/kpi/fct_kpi_values.sql") in written
    assert Path("models/marts/kpi/fct_base_measures.sql") in written
    sql = {
        p.relative_to(project): p.read_text()
        for p in project.rglob("*.sql")
        if "generated" not in p.parts and p.relative_to(project) not in written
    }
    assert sql == {
        p.relative_to(DBT_PROJECT_DIR): p.read_text()
        for p in DBT_PROJECT_DIR.rglob("*.sql")
        if "generated" not in p.parts
        and "target" not in p.parts
        and p.relative_to(DBT_PROJECT_DIR) not in written
    }
    env = {**os.environ, "KPI_BUILD_DB": str(shop_copy.settings.build_db)}
    dbt = str(Path(sys.executable).parent / "dbt")
    out = subprocess.run(
        [
            dbt,
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--select",
            "fct_base_measures+",
            "--vars",
            json.dumps({}),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:]
    with shop_copy.connect() as con:
        want = con.execute(f"""
            with baskets as (select order_id, count(distinct product_id) p
                             from raw.order_items group by 1)
            select sum(case when p > 2 then 1 else 0 end) * 100.0 / count(*)
            from ({ORDERS}) o left join baskets using (order_id)
            where date_trunc('month', o.business_date) = date '2025-03-01'
        """).fetchall()[0][0]
        got = con.execute("""
            select value from kpi.fct_kpi_values where kpi_id = 'cross_sell_rate'
            and grain = 'month' and period_start = date '2025-03-01' and dimension = 'total'
        """).fetchall()[0][0]
    assert close(got, want)
    assert 1 < got < 40  # a percentage now, of orders with three or more products


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_every_node_has_a_total_for_every_period(built_shop, grain):
    with built_shop.connect() as con:
        counts = con.execute(
            "select kpi_id, count(distinct period_start) from kpi.fct_kpi_values "
            "where grain = ? and dimension = 'total' group by 1",
            [grain],
        ).fetchall()
    periods = {"day": 75, "week": 12, "month": 3}[grain]
    got = dict(counts)
    assert set(got) == set(default_tree().nodes)
    assert min(got.values()) >= periods - 1


def test_a_nights_window_reaches_dbt_ends_with_the_run_and_the_next_night_reuses_the_parse(
    shop_copy,
):
    """The window reaches dbt through its environment, not `--vars`: a night rebuilds the
    rows of its own deliveries and leaves those of the night before as they are. The window
    is gone from this process once its dbt has started. Each build leaves its parse for the
    next: the second night's dbt parses nothing again (it keeps the parse it was given; dbt
    writes a new one when it parses)."""
    day = shop_copy.end
    night_before = day - dt.timedelta(days=1)
    delivered = (
        "select delivered_on, count(*) from staging.stg_shop__orders "
        "where delivered_on in ($day, $night_before) group by 1 order by 1"
    )
    nights = {"day": day, "night_before": night_before}
    with duckdb.connect(str(shop_copy.settings.build_db)) as con:
        [(_, before), (_, tonight)] = con.execute(delivered, nights).fetchall()
        assert before > 0 and tonight > 0
        con.execute(
            "delete from staging.stg_shop__orders where delivered_on in ($day, $night_before)",
            nights,
        )
    kept_parse = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    for night in range(2):
        given = kept_parse.read_bytes()
        started = time.time()
        outcome = shop_copy.run(day, day)
        assert outcome.ok, outcome.error
        if night == 0:  # the window reached dbt: the night's orders only are back
            with shop_copy.connect() as con:
                assert con.execute(delivered, nights).fetchall() == [(day, tonight)]
    assert (_tree_dbt_folder(started) / "partial_parse.msgpack").read_bytes() == given
    assert "KPI_WINDOW_START" not in os.environ  # the window was dbt's, not this process's


def test_a_new_data_dirs_first_dbt_reuses_the_parse_another_data_dir_left(
    built_shop, shop_copy, tmp_path, monkeypatch
):
    """The parse a run leaves serves the next run in any data dir with the same settings:
    dbt, which runs in the warehouse's folder and is given its file name, parses nothing
    again in a data dir it has never run in (it keeps the parse it was given; dbt writes a
    new one when it parses)."""
    monkeypatch.setenv("KPI_FASTPATHS", "1")
    other = Shop(
        shutil.copytree(built_shop.data_dir, tmp_path / "other"),
        json.loads(json.dumps(built_shop.manifest)),
        built_shop.start,
        built_shop.end,
    )
    day = shop_copy.end
    assert shop_copy.run(day, day).ok  # leaves its parse
    given = (DBT_PROJECT_DIR / "target" / "partial_parse.msgpack").read_bytes()
    started = time.time()
    outcome = other.run(day, day)
    assert outcome.ok, outcome.error
    assert (_tree_dbt_folder(started) / "partial_parse.msgpack").read_bytes() == given
    with other.connect() as con:  # and built in its own warehouse
        built = con.execute(
            "select count(*) from staging.stg_shop__orders where delivered_on = ?", [day]
        ).fetchone()[0]
    assert built > 0


def test_the_prepared_parse_serves_a_new_data_dir_and_a_changed_model_is_parsed_again(
    shop_copy, tmp_path
):
    """The parse saved when the project is prepared serves a new data dir's first build, but
    does not hide a change of the project: `dbt`, run as the pipeline runs it (in the
    warehouse's folder, given its file name, the run's target and vars), parses nothing
    while nothing has changed (dbt writes a new parse when it parses), and parses and builds
    a model changed since."""
    from dagster_dbt import DbtProject

    from pipelines.transform.assets import dbt_vars
    from pipelines.transform.project import prepare

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    prepare(DbtProject(project_dir=project, profiles_dir=project))
    kept = project / "target" / "partial_parse.msgpack"
    given = kept.read_bytes()
    other = tmp_path / "other"
    shutil.copytree(shop_copy.settings.warehouse_dir, other)

    def build(model: str) -> None:
        done = subprocess.run(
            [
                str(Path(sys.executable).with_name("dbt")),
                "build",
                "--target",
                "build",
                "--vars",
                json.dumps(dbt_vars(shop_copy.settings)),
                "--select",
                model,
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
            ],
            cwd=other,
            env={
                **os.environ,
                "KPI_BUILD_DB": shop_copy.settings.build_db.name,
                "KPI_DUCKDB_MEMORY_LIMIT": shop_copy.settings.memory_limit,
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:]

    build("sem_orders")
    assert kept.read_bytes() == given  # nothing parsed again
    model = project / "models" / "semantic" / "sem_orders.sql"
    model.write_text(
        f"select *, 42 as changed_probe from (\n{model.read_text()}\n) as fact\n",
        encoding="utf-8",
    )
    build("sem_orders")
    with duckdb.connect(str(other / shop_copy.settings.build_db.name), read_only=True) as con:
        probes = con.execute("select distinct changed_probe from semantic.sem_orders").fetchall()
    assert probes == [(42,)]


def _tree_dbt_folder(started: float) -> Path:
    """The target folder of the one KPI tree `dbt build` that Dagster ran since `started`."""
    [folder] = [
        p
        for p in (DBT_PROJECT_DIR / "target").glob("kpi_tree_dbt-*")
        if p.is_dir() and p.stat().st_mtime >= started
    ]
    return folder


def _deliver_again(con: duckdb.DuckDBPyConnection, first: dt.date, again: dt.date) -> tuple:
    """One shipment update first delivered on `first`, delivered again on `again`: its
    (shipment_id, updated_at)."""
    [update] = con.execute(
        "select shipment_id, updated_at from raw.shipments where _partition_date = ? "
        "order by all limit 1",
        [first],
    ).fetchall()
    con.execute(
        "insert into raw.shipments select * replace (?::date as _partition_date) "
        "from raw.shipments where _partition_date = ? and shipment_id = ? "
        "and updated_at = ?",
        [again, first, *update],
    )
    return update


def _failing_rows(
    shop: Shop, start: dt.date | None, end: dt.date | None, target: Path, *tests: str
) -> dict[str, list[tuple]]:
    """The rows each of the dbt data tests `tests` finds failing when a run over the window
    start..end (None: no window) tests them: dbt stores them in the warehouse
    (`--store-failures`) and names the table in its run results."""
    done = _dbt_over_window(
        shop,
        start,
        end,
        *("test", "--store-failures", "--target-path", str(target), "--select", *tests),
    )
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    failing = {}
    with duckdb.connect(str(shop.settings.build_db), read_only=True) as con:
        for result in results:
            assert result["status"] in ("pass", "fail"), done.stdout[-3000:]
            rows = con.execute(f"select * from {result['relation_name']}").fetchall()
            failing[result["unique_id"].split(".")[2]] = sorted(rows)
    assert set(failing) == set(tests), done.stdout[-3000:]
    return failing


def test_a_nights_dbt_tests_check_the_rows_its_deliveries_touched(shop_copy):
    """A windowed run's dbt tests of the tables kept by key check the rows derived from the
    night's deliveries (delivered_on in the window), and only those: a key copied among them
    fails its test; one copied among the night before's rows does not (that night's tests
    checked them). The shipment updates' key test (a view of every delivery) looks up the
    combinations of the night's own deliveries among the window's maturity days: an update
    delivered again tonight is caught when it was first delivered on the window's first day,
    not the day before; one delivered again on an earlier night was that night's to catch.
    The same tests without a window (a first build, or by hand) find every copy. Measured by
    the rows each test finds failing."""
    day = shop_copy.end
    night_before = day - dt.timedelta(days=1)
    kept_by_key = {  # test -> the table it checks and the table's key
        "kpi_unique_stg_shop__orders_order_id": ("staging.stg_shop__orders", "order_id"),
        "kpi_unique_int_orders_enriched_order_id": (
            "intermediate.int_orders_enriched",
            "order_id",
        ),
        "kpi_unique_int_shipments_latest_shipment_id": (
            "intermediate.int_shipments_latest",
            "shipment_id",
        ),
    }
    updates = "unique_combination_stg_shop__shipments_shipment_id__updated_at"
    first_day = day - dt.timedelta(days=default_tree().maturity_days)  # of the window's rows
    expected, everywhere = {}, {}
    with duckdb.connect(str(shop_copy.settings.build_db)) as con:
        for test, (table, key) in kept_by_key.items():
            copied = []
            for delivered in (day, night_before):
                [(copy,)] = con.execute(
                    f"select min({key}) from {table} where delivered_on = ?", [delivered]
                ).fetchall()
                con.execute(f"insert into {table} select * from {table} where {key} = ?", [copy])
                copied.append(copy)
            expected[test] = [(copied[0], 2)]  # tonight's copy only
            everywhere[test] = sorted((copy, 2) for copy in copied)

        caught = _deliver_again(con, first_day, day)
        # first delivered before the window; delivered again on an earlier night
        before = _deliver_again(con, first_day - dt.timedelta(days=1), day)
        older = day - dt.timedelta(days=10)
        earlier = _deliver_again(con, older, older + dt.timedelta(days=1))
        expected[updates] = [(*caught, 2)]
        everywhere[updates] = sorted((*update, 2) for update in (caught, before, earlier))

    failing = _failing_rows(shop_copy, day, day, shop_copy.data_dir / "dbt-night", *expected)
    assert failing == expected
    failing = _failing_rows(shop_copy, None, None, shop_copy.data_dir / "dbt-all", *expected)
    assert failing == everywhere


def test_a_nights_dbt_tests_report_the_bad_rows_in_its_window_and_a_full_build_every_one(
    shop_copy,
):
    """One bad row planted inside a windowed night's window and one outside it, for each kind
    of window: an order delivered tonight and one delivered the night before (the orders'
    window is their deliveries), a KPI value of tonight and one of a day more than
    maturity_days before (the KPI tables' window is the periods the night rebuilt). The
    night's tests report the row inside and never read the one outside; the same tests
    without a window report both."""
    day = shop_copy.end
    outside_days = {  # the kind of window -> a day whose rows lie outside a night's window
        "deliveries": day - dt.timedelta(days=1),
        "periods": day - dt.timedelta(days=default_tree().maturity_days + 1),
    }
    not_null = "kpi_not_null_stg_shop__orders_business_date"
    members = "kpi_accepted_members_stg_shop__orders_channel__channels"
    values = "unique_combination_fct_kpi_values_grain__period_start__kpi_id__dimension__member"
    inside, outside = {}, {}
    with duckdb.connect(str(shop_copy.settings.build_db)) as con:
        for found, delivered in ((inside, day), (outside, outside_days["deliveries"])):
            [(no_date,), (off_list,)] = con.execute(
                "select order_id from staging.stg_shop__orders where delivered_on = ? "
                "order by order_id limit 2",
                [delivered],
            ).fetchall()
            channel = f"not a channel ({delivered})"
            con.execute(
                "update staging.stg_shop__orders set business_date = null where order_id = ?",
                [no_date],
            )
            con.execute(
                "update staging.stg_shop__orders set channel = ? where order_id = ?",
                [channel, off_list],
            )
            found[not_null] = con.execute(
                "select * from staging.stg_shop__orders where order_id = ?", [no_date]
            ).fetchall()
            found[members] = [(channel, 1)]
        for found, period in ((inside, day), (outside, outside_days["periods"])):
            [key] = con.execute(
                "select grain, period_start, kpi_id, dimension, member from kpi.fct_kpi_values "
                "where grain = 'day' and period_start = ? order by all limit 1",
                [period],
            ).fetchall()
            con.execute(
                "insert into kpi.fct_kpi_values select * from kpi.fct_kpi_values "
                "where (grain, period_start, kpi_id, dimension, member) "
                "is not distinct from (?, ?, ?, ?, ?)",
                list(key),
            )
            found[values] = [(*key, 2)]

    tests = (not_null, members, values)
    night = _failing_rows(shop_copy, day, day, shop_copy.data_dir / "dbt-night", *tests)
    assert night == inside
    every_row = _failing_rows(shop_copy, None, None, shop_copy.data_dir / "dbt-all", *tests)
    assert every_row == {test: sorted(inside[test] + outside[test]) for test in tests}


def test_the_shipment_updates_key_test_checks_every_row_of_a_window_from_the_history(shop_copy):
    """Over a window that starts with the history (a first build) every shipment update the
    key test sees is one of the run's deliveries: a copy among them is found, wherever it
    lies. Over one night, after other deliveries, the same copy is not the night's (the
    earlier test)."""
    first, last = shop_copy.start, shop_copy.end
    test = "unique_combination_stg_shop__shipments_shipment_id__updated_at"
    with duckdb.connect(str(shop_copy.settings.build_db)) as con:
        [(shipment, updated_at)] = con.execute(
            "select shipment_id, updated_at from raw.shipments "
            "where _partition_date = $first order by shipment_id, updated_at limit 1",
            {"first": first},
        ).fetchall()
        # the same update delivered again, three days later
        con.execute(
            "insert into raw.shipments select * replace ($into::date as _partition_date) "
            "from raw.shipments where _partition_date = $first and shipment_id = $shipment "
            "and updated_at = $updated_at",
            {
                "into": first + dt.timedelta(days=3),
                "first": first,
                "shipment": shipment,
                "updated_at": updated_at,
            },
        )

    history = _failing_rows(shop_copy, first, last, shop_copy.data_dir / "dbt-first-build", test)
    assert history == {test: [(shipment, updated_at, 2)]}
    # one night, with earlier deliveries in its maturity days: the night's combinations only
    night = _failing_rows(shop_copy, last, last, shop_copy.data_dir / "dbt-night", test)
    assert night == {test: []}  # the copy was delivered on an earlier night


def test_a_long_windows_shipment_updates_key_test_reports_its_own_deliveries_copies(shop_copy):
    """A window longer than the maturity days before it (a backfill that does not start with
    the history) counts every combination of its rows, and still reports only those that
    hold one of its own deliveries: an update delivered again within the window is found,
    one delivered twice in the maturity days before the window only is not (the run that
    delivered it reported it), and both are found without a window."""
    test = "unique_combination_stg_shop__shipments_shipment_id__updated_at"
    last = shop_copy.end
    lookback = dt.timedelta(days=default_tree().maturity_days)
    start = last - lookback - dt.timedelta(days=9)  # a window of maturity_days + 10 days
    assert start - lookback > shop_copy.start
    before = start - lookback
    with duckdb.connect(str(shop_copy.settings.build_db)) as con:
        own = (*_deliver_again(con, before, start + dt.timedelta(days=5)), 2)
        older_days = (before + dt.timedelta(days=1), before + dt.timedelta(days=3))
        older = (*_deliver_again(con, *older_days), 2)

    window = _failing_rows(shop_copy, start, last, shop_copy.data_dir / "dbt-range", test)
    assert window == {test: [own]}
    every_row = _failing_rows(shop_copy, None, None, shop_copy.data_dir / "dbt-all", test)
    assert every_row == {test: sorted([own, older])}


# the models whose first build reads its history in key ranges (macros/kpi/build_ranges.sql)
BUILT_IN_RANGES = {
    "stg_shop__conversations": "staging",
    "int_orders_enriched": "intermediate",
    "int_conversations_enriched": "intermediate",
    "int_shipments_latest": "intermediate",
}

# a model configured and marked as those are, whose rows say which statement of its build
# wrote them: the least key that statement read, and how many rows it read
RANGE_PROBE = """
{{ config(schema='range_probe') }}
{{ kpi_first_build_in_ranges('order_id', "ref('stg_shop__orders')") }}
{{ kpi_incremental_by_key(['order_id'], [{'ref': 'stg_shop__orders', 'keys': ['order_id']}]) }}
select order_id,
       min(order_id) over () as statement_first_key,
       count(*) over () as statement_rows
from {{ ref('stg_shop__orders') }}
where {{ kpi_build_range('order_id') }}
"""


def test_a_first_build_in_key_ranges_gives_the_tables_of_one_query(shop_copy, tmp_path):
    """A first build over many rows runs each marked model in ranges of its key, one statement
    a range. Built again in ranges of a quarter of the orders, every marked table holds the
    rows it held when built in one query (the sample shop is below the default size of a
    range), and equals its plain derivation. A probe model marked the same way shows the
    ranges: each statement read the rows of its own range of keys, at least three ranges
    that do not overlap, every order once."""
    db = shop_copy.settings.build_db
    with duckdb.connect(str(db)) as con:
        [(orders,)] = con.execute("select count(*) from raw.orders").fetchall()
        con.execute("create schema one_query")
        for model, schema in BUILT_IN_RANGES.items():
            con.execute(f"create table one_query.{model} as select * from {schema}.{model}")
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "models" / "range_probe.sql").write_text(RANGE_PROBE, encoding="utf-8")
    done = _dbt_over_window(
        shop_copy,
        None,
        None,
        *("run", "--full-refresh", "--select", *BUILT_IN_RANGES, "range_probe"),
        *("--target-path", str(shop_copy.data_dir / "dbt-ranges")),
        project=project,
        env={"KPI_BUILD_RANGE_ROWS": str(orders // 4)},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        statements = con.execute(
            "select statement_first_key, any_value(statement_rows), count(*), "
            "min(order_id), max(order_id) from range_probe.range_probe group by 1 order by 1"
        ).fetchall()
        [(every_order, distinct)] = con.execute(
            "select count(*), count(distinct order_id) from staging.stg_shop__orders"
        ).fetchall()
        assert len(statements) >= 3, statements
        # each statement wrote the rows it read, and its keys lie below the next one's
        assert all(rows == written and low == first for first, rows, written, low, _ in statements)
        assert all(a[4] < b[3] for a, b in itertools.pairwise(statements)), statements
        assert sum(s[2] for s in statements) == every_order == distinct
        differing = {
            model: rows_differing(con, f"select * from one_query.{model}", f"{schema}.{model}")
            for model, schema in BUILT_IN_RANGES.items()
        }
        assert differing == dict.fromkeys(BUILT_IN_RANGES, 0)
        assert staging_mismatches(con) == {"orders": 0, "order_items": 0, "conversations": 0}
        assert set(intermediate_mismatches(con).values()) == {0}


def test_a_nights_order_lookups_find_the_orders_outside_the_range_of_its_deliveries(shop_copy):
    """The shipments and the conversations look their orders up first within the range of the
    orders of the night's deliveries (kpi_rows_by_key), then any other. A rerun of a night
    without its shipment updates rebuilds the shipments updated that night from their earlier
    updates: their orders are older than the night's orders, outside that range, and are
    found all the same (the shipments keep their order's cohort)."""
    day = shop_copy.end
    with shop_copy.connect() as con:
        # shipments whose latest update came that night, with an update delivered before it
        rebuilt = dict(
            con.execute(
                """
                select l.shipment_id, o.business_date
                from intermediate.int_shipments_latest l
                join staging.stg_shop__orders o using (order_id)
                where l.delivered_on = $day and l.shipment_id in (
                    select shipment_id from staging.stg_shop__shipments where delivered_on < $day
                )
                """,
                {"day": day},
            ).fetchall()
        )
        [(low,)] = con.execute(
            "select min(order_id) from staging.stg_shop__orders where delivered_on = $day",
            {"day": day},
        ).fetchall()
    assert rebuilt
    [updates] = (shop_copy.landing / "shipments").glob(f"*{day.isoformat()}*")
    updates.unlink()
    outcome = shop_copy.run(day, day)
    assert outcome.ok, outcome.error
    with shop_copy.connect() as con:
        found = dict(
            con.execute(
                "select shipment_id, order_business_date from intermediate.int_shipments_latest "
                "where shipment_id in (select unnest($ids)) and order_id < $low",
                {"ids": list(rebuilt), "low": low},
            ).fetchall()
        )
        assert intermediate_mismatches(con) == dict.fromkeys(EXPECTED_INTERMEDIATE, 0)
    # most of them are orders of earlier days, below the range, each in its order's cohort
    assert len(found) > len(rebuilt) / 2
    assert found == {shipment: rebuilt[shipment] for shipment in found}


def test_an_hour_of_sessions_delivered_again_replaces_the_earlier_delivery(shop_copy):
    """The sessions' staging keeps each hour's (x channel, campaign, landing page) latest
    delivery. An hour of an earlier day delivered again in a later night's file, with other
    counts: the day's sessions follow the new delivery, computed here from the raw rows (each
    hour's latest delivery, ranked by hour alone), and the view keeps one row for the hour."""
    day, late = shop_copy.end - dt.timedelta(days=3), shop_copy.end + dt.timedelta(days=1)
    [earlier] = (shop_copy.landing / "sessions").glob(f"*{day.isoformat()}*")
    hours = pl.read_parquet(earlier).sort("hour_start")
    hour = hours.slice(len(hours) // 2, 1)
    assert len(hour) == 1
    again = hour.with_columns(pl.col("sessions") + 50)
    key = {c: hour[c][0] for c in ("hour_start", "channel", "campaign", "landing_page")}

    def day_sessions(con, business_date) -> float:
        [(value,)] = con.execute(
            """select value from kpi.fct_kpi_values where kpi_id = 'sessions' and grain = 'day'
            and dimension = 'total' and period_start = $d""",
            {"d": business_date},
        ).fetchall()
        return float(value)

    with shop_copy.connect() as con:
        [(business_date,)] = con.execute(
            "select distinct business_date from raw.sessions where hour_start = $hour_start",
            {"hour_start": key["hour_start"]},
        ).fetchall()
        before = day_sessions(con, business_date)
    again.write_parquet(shop_copy.landing / "sessions" / f"sessions_{late.isoformat()}.parquet")
    outcome = shop_copy.run(late, late)
    assert outcome.ok, outcome.error
    with shop_copy.connect() as con:
        # independent of the models: the raw rows, each hour's latest delivery
        [(expected,)] = con.execute(
            """
            select sum(sessions) from (
                select *, row_number() over (
                    partition by hour_start, channel, campaign, landing_page
                    order by _partition_date desc, _file desc, _row desc) as k
                from raw.sessions)
            where k = 1 and business_date = $d
            """,
            {"d": business_date},
        ).fetchall()
        kept = con.execute(
            """select sessions from staging.stg_shop__sessions
            where hour_start = $hour_start and channel = $channel
              and campaign is not distinct from $campaign and landing_page = $landing_page""",
            key,
        ).fetchall()
        published = day_sessions(con, business_date)
    assert kept == [(again["sessions"][0],)]
    assert close(published, float(expected))
    assert close(published, before + 50)
