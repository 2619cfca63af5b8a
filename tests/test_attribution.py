"""Attribution of a gap down the tree (kpi_tree/attribution.py): exact, checked by hand."""

from __future__ import annotations

import math
import random

import pytest

from kpi_tree.attribution import (
    AttributionError,
    decompose,
    explain,
    largest_adverse,
    member_effects_ratio,
    member_effects_sum,
)
from kpi_tree.model import default_tree

TREE = default_tree()


def gmv_values(sessions: float, cvr: float, aov: float) -> dict[str, float]:
    return {"sessions": sessions, "conversion_rate": cvr, "aov": aov, "gmv": sessions * cvr * aov}


def test_lmdi_by_hand_on_gmv():
    ref = gmv_values(10_000, 0.03, 200)  # paced: ¥60,000
    act = gmv_values(9_800, 0.027, 201)  # actual: ¥53,186.4
    d = decompose(TREE, "gmv", act, ref)
    weight = (act["gmv"] - ref["gmv"]) / (math.log(act["gmv"]) - math.log(ref["gmv"]))
    assert d.contributions["sessions"] == pytest.approx(
        weight * math.log(9_800 / 10_000), rel=1e-12
    )
    assert d.contributions["conversion_rate"] == pytest.approx(weight * math.log(0.9), rel=1e-12)
    assert d.contributions["aov"] == pytest.approx(weight * math.log(201 / 200), rel=1e-12)
    assert list(d.contributions) == ["sessions", "conversion_rate", "aov"]
    assert sum(d.contributions.values()) == pytest.approx(act["gmv"] - ref["gmv"], rel=1e-12)
    assert abs(d.residual) < 1e-9
    assert d.points()["conversion_rate"] == pytest.approx(100 * weight * math.log(0.9) / 60_000)
    assert largest_adverse(d.contributions, "higher") == "conversion_rate"


def test_sum_identity_and_no_change():
    d = decompose(
        TREE,
        "sessions",
        {"sessions": 950, "paid_sessions": 600, "organic_sessions": 350},
        {"sessions": 1000, "paid_sessions": 550, "organic_sessions": 450},
    )
    assert d.contributions == {"paid_sessions": 50, "organic_sessions": -100}
    assert d.residual == 0 and d.gap == -50
    same = decompose(TREE, "gmv", gmv_values(100, 0.5, 2), gmv_values(100, 0.5, 2))
    assert same.gap == 0 and all(v == 0 for v in same.contributions.values())


def test_a_broken_identity_shows_as_residual_and_bad_values_are_refused():
    ref = gmv_values(10_000, 0.03, 200)
    ref["gmv"] = 61_000  # stitched from two plan versions: the product is 60,000
    act = gmv_values(9_000, 0.03, 200)
    d = decompose(TREE, "gmv", act, ref)
    explained = sum(d.contributions.values())
    assert d.residual == pytest.approx((act["gmv"] - 61_000) - explained, rel=1e-12)
    assert d.residual != pytest.approx(0, abs=1)
    with pytest.raises(AttributionError, match="conversion_rate"):
        decompose(TREE, "gmv", gmv_values(100, 0.0, 2), gmv_values(100, 0.5, 2))
    with pytest.raises(AttributionError, match="not the parent of an identity"):
        decompose(TREE, "aov", {}, {})


def test_contributions_add_up_exactly_on_generated_data():
    rng = random.Random(42)
    for _ in range(500):
        act = gmv_values(rng.uniform(1, 1e6), rng.uniform(1e-3, 0.2), rng.uniform(1, 2_000))
        ref = gmv_values(rng.uniform(1, 1e6), rng.uniform(1e-3, 0.2), rng.uniform(1, 2_000))
        d = decompose(TREE, "gmv", act, ref)
        assert math.fsum(d.contributions.values()) == pytest.approx(d.gap, rel=1e-9, abs=1e-6)
        assert abs(d.residual) <= 1e-9 * max(abs(d.gap), act["gmv"])
    # and on every product and sum identity of the real tree
    for parent, relation, kids in TREE.identities():
        for _ in range(50):
            a = {k.id: rng.uniform(0.01, 100) for k in kids}
            r = {k.id: rng.uniform(0.01, 100) for k in kids}
            combine = math.prod if relation == "product" else math.fsum
            a[parent.id], r[parent.id] = combine(a.values()), combine(r.values())
            d = decompose(TREE, parent.id, a, r)
            assert math.fsum(d.contributions.values()) == pytest.approx(d.gap, rel=1e-9, abs=1e-9)


def test_member_effects_add_up_to_the_change():
    # conversion by channel: (orders, sessions)
    before = {"paid_search": (30, 1000), "organic": (20, 1000)}  # 2.5 %
    now = {"paid_search": (12, 800), "organic": (24, 1200)}  # 1.8 %
    effects = member_effects_ratio(now, before)
    # paid search by hand: share 0.5 -> 0.4, rate 3 % -> 1.5 %
    assert effects["paid_search"] == pytest.approx(0.45 * -0.015 + 0.0225 * -0.1)
    assert effects["organic"] == pytest.approx(0.55 * 0.0 + 0.02 * 0.1)
    assert sum(effects.values()) == pytest.approx(36 / 2000 - 50 / 2000, rel=1e-12)
    assert largest_adverse(effects, "higher") == "paid_search"
    # a member only in one period, and generated cases
    effects = member_effects_ratio({"a": (5, 100), "new": (9, 50)}, {"a": (6, 100)})
    assert sum(effects.values()) == pytest.approx(14 / 150 - 6 / 100, rel=1e-12)
    rng = random.Random(7)
    for _ in range(200):
        members = [f"m{i}" for i in range(rng.randint(1, 6))]
        now = {m: (rng.uniform(0, 50), rng.uniform(1, 500)) for m in members if rng.random() > 0.2}
        before = {m: (rng.uniform(0, 50), rng.uniform(1, 500)) for m in members}
        if not now:
            continue
        total = lambda x: sum(n for n, _ in x.values()) / sum(d for _, d in x.values())  # noqa: E731
        assert sum(member_effects_ratio(now, before).values()) == pytest.approx(
            total(now) - total(before), rel=1e-9, abs=1e-12
        )
    sums = member_effects_sum({"a": 5, "b": 2}, {"a": 3, "c": 4})
    assert sums == {"a": 2, "b": 2, "c": -4} and sum(sums.values()) == 7 - 7


def test_the_sentence_in_english_and_chinese():
    d = decompose(TREE, "gmv", gmv_values(9_900, 0.0279, 199.6), gmv_values(10_000, 0.03, 200))
    pts = d.points()
    text = explain(TREE, d, member="paid_search")
    assert text == (
        f"GMV month-to-date is {abs(100 * d.gap / 60_000):.1f} % below pace: "
        f"Sessions \u2212{abs(pts['sessions']):.1f} pt, "
        f"Conversion rate \u2212{abs(pts['conversion_rate']):.1f} pt, "
        f"Average order value \u2212{abs(pts['aov']):.1f} pt; "
        "Conversion rate fell most in paid_search."
    )
    zh = explain(TREE, d, member="paid_search", period="本月至今", lang="zh")
    assert zh.startswith("交易额本月至今低于进度 ")
    assert zh.endswith("；流量转化率下降最多的是 paid_search。")
