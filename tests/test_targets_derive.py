"""Targets down the tree: the identities hold exactly, from the tree's own equations."""

from __future__ import annotations

import math

import pytest

from kpi_tree.model import default_tree
from kpi_tree.targets.derive import (
    DeriveError,
    check_identities,
    derive_targets,
    identity_violations,
    resolve,
    trailing_drivers,
    trailing_shares,
)

TREE = default_tree()
DRIVERS = {
    "signoff_rate": 0.92,
    "conversion_rate": 0.032,
    "aov": 185.0,
    "click_to_session_rate": 0.95,
    "ctr": 0.021,
    "cpc": 1.6,
    "first_response_mean": 30.0,
}
SHARES = {"organic_sessions": 0.45}


def rel(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def test_down_the_tree_from_net_revenue():
    t = derive_targets(TREE, "net_revenue", 36_750_000.0, DRIVERS, SHARES)
    gmv = 36_750_000 / 0.92
    sessions = gmv / (0.032 * 185)
    paid = sessions * 0.55
    clicks = paid / 0.95
    assert rel(t["gmv"], gmv)
    assert rel(t["sessions"], sessions)  # 精确算出为完成销售目标需要的流量
    assert rel(t["organic_sessions"], sessions * 0.45) and rel(t["paid_sessions"], paid)
    assert rel(t["ad_clicks"], clicks)
    assert rel(t["impressions"], clicks / 0.021)
    assert rel(t["ad_spend"], clicks * 1.6)  # the ad budget
    assert rel(t["orders"], sessions * 0.032)
    assert rel(t["cpm"], 1000 * clicks * 1.6 / (clicks / 0.021))
    assert rel(t["roas"], gmv / (clicks * 1.6))
    assert t["first_response_mean"] == 30.0  # no identity: passed through
    assert identity_violations(TREE, t) == []
    # every identity of the tree, checked here independently
    for parent, relation, kids in TREE.identities():
        combine = math.prod if relation == "product" else math.fsum
        assert rel(t[parent.id], combine([t[k.id] for k in kids])), parent.id


def test_top_kpi_gmv_derives_net_revenue_upwards():
    t = derive_targets(TREE, "gmv", 40_000_000.0, DRIVERS, SHARES)
    assert rel(t["net_revenue"], 40_000_000 * 0.92)
    check_identities(TREE, t)


def test_zero_targets_and_a_zero_part_stay_consistent():
    zero = derive_targets(TREE, "net_revenue", 0.0, DRIVERS, SHARES)
    assert zero["sessions"] == 0 and zero["ad_spend"] == 0 and zero["aov"] == 185.0
    assert "roas" not in zero  # 0 / 0 is no target
    organic_only = derive_targets(TREE, "net_revenue", 1e6, DRIVERS, {"organic_sessions": 1.0})
    assert organic_only["paid_sessions"] == 0 and organic_only["ad_clicks"] == 0
    check_identities(TREE, organic_only)


def test_a_missing_share_part_takes_the_rest_and_full_shares_must_add_up():
    t = derive_targets(TREE, "net_revenue", 1e6, DRIVERS, {"paid_sessions": 0.7})
    assert rel(t["organic_sessions"], 0.3 * t["sessions"])
    with pytest.raises(DeriveError, match="must add up to 1"):
        derive_targets(
            TREE, "net_revenue", 1e6, DRIVERS, {"paid_sessions": 0.7, "organic_sessions": 0.4}
        )


def test_contradicting_drivers_are_refused():
    with pytest.raises(DeriveError, match=r"contradict each other on .*cpc = ad_spend / ad_clicks"):
        derive_targets(TREE, "net_revenue", 1e6, {**DRIVERS, "cpm": 50.0}, SHARES)
    consistent_cpm = 1000 * 1.6 * 0.021
    t = derive_targets(TREE, "net_revenue", 1e6, {**DRIVERS, "cpm": consistent_cpm}, SHARES)
    assert rel(t["cpm"], consistent_cpm)


def test_undetermined_nodes_are_named():
    drivers = {k: v for k, v in DRIVERS.items() if k != "ctr"}
    with pytest.raises(DeriveError, match=r"do not determine \['ctr', 'impressions'\]"):
        derive_targets(TREE, "net_revenue", 1e6, drivers, SHARES)
    with pytest.raises(DeriveError, match="needs a share"):
        derive_targets(TREE, "net_revenue", 1e6, DRIVERS, {})


def test_check_identities_catches_a_broken_tree():
    t = derive_targets(TREE, "net_revenue", 1e6, DRIVERS, SHARES)
    t["sessions"] *= 1 + 1e-6
    bad = identity_violations(TREE, t)
    assert any(b.startswith("gmv = ") for b in bad) and any(
        b.startswith("sessions = ") for b in bad
    )
    with pytest.raises(DeriveError, match="identities do not hold"):
        check_identities(TREE, t)


def test_trailing_history_fills_the_drivers_planned_as_null():
    totals = {
        "gmv": 1_000_000.0,
        "orders": 5_000.0,
        "signed_gmv": 910_000.0,
        "sessions": 160_000.0,
        "paid_sessions": 90_000.0,
        "organic_sessions": 70_000.0,
        "ad_clicks": 100_000.0,
        "impressions": 4_000_000.0,
        "ad_spend": 150_000.0,
    }
    trailing = trailing_drivers(TREE, totals)
    assert trailing["aov"] == 200.0 and trailing["conversion_rate"] == 5_000 / 160_000
    assert trailing["signoff_rate"] == 0.91 and trailing["cpm"] == 37.5
    assert trailing["cpc"] == 1.5 and trailing["click_to_session_rate"] == 0.9
    assert trailing_shares(TREE, totals) == {"paid_sessions": 0.5625, "organic_sessions": 0.4375}
    drivers = resolve({"aov": None, "ctr": 0.03}, trailing)
    assert drivers == {"aov": 200.0, "ctr": 0.03}
    with pytest.raises(DeriveError, match="drivers.inquiry_rate: planned as the trailing"):
        resolve({"inquiry_rate": None}, trailing)
