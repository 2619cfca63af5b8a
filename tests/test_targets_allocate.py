"""Across the organisation: seed 000's reps (20M -> 22M) and regions (40 % / 60 %), as
docs/domain.md tells them."""

from __future__ import annotations

import pytest

from kpi_tree.targets.allocate import allocate, allocate_units, children_of
from kpi_tree.targets.plan import OrgUnit
from kpi_tree.targets.split import SplitError

M = 100 * 1_000_000  # one million yuan in fen


def test_seed_000_twenty_million_over_five_reps_by_ability_is_twenty_two():
    reps = {"rep_1": 6, "rep_2": 5, "rep_3": 4, "rep_4": 4, "rep_5": 3}
    parts = allocate(20 * M, reps, by="scores", uplift=0.10)
    assert parts == {"rep_1": 6 * M, "rep_2": 5 * M, "rep_3": 4 * M, "rep_4": 4 * M, "rep_5": 3 * M}
    assert sum(parts.values()) == 22 * M


def test_seed_000_regions_forty_sixty():
    assert allocate(20 * M, {"A": 0.4, "B": 0.6}) == {"A": 8 * M, "B": 12 * M}
    odd = allocate(12_345_679, {"A": 0.4, "B": 0.6})
    assert sum(odd.values()) == 12_345_679


def test_parts_add_up_exactly_to_the_fen_with_any_uplift():
    for total in (1, 99, 1_000_003, 3_675_000_001):
        parts = allocate(total, {"a": 3, "b": 3, "c": 1}, by="scores", uplift=0.07)
        assert sum(parts.values()) == round(total * 107 / 100)


def test_nested_organisation():
    org = (
        OrgUnit(
            "region_a",
            0.4,
            by="scores",
            uplift=0.10,
            units=(
                OrgUnit("rep_1", 6),
                OrgUnit("rep_2", 5),
                OrgUnit("rep_3", 4),
                OrgUnit("rep_4", 4),
                OrgUnit("rep_5", 3),
            ),
        ),
        OrgUnit("region_b", 0.6),
    )
    got = allocate_units(50 * M, org)
    assert got["region_a"] == 20 * M and got["region_b"] == 30 * M
    reps = children_of(got, "region_a")
    assert reps == {
        "region_a/rep_1": 6 * M,
        "region_a/rep_2": 5 * M,
        "region_a/rep_3": 4 * M,
        "region_a/rep_4": 4 * M,
        "region_a/rep_5": 3 * M,
    }
    assert children_of(got, None) == {"region_a": 20 * M, "region_b": 30 * M}


def test_allocation_errors():
    with pytest.raises(SplitError, match="weights must add up to 1"):
        allocate(100, {"A": 0.4, "B": 0.5})
    with pytest.raises(SplitError, match="uplift"):
        allocate(100, {"A": 1}, uplift=-0.1)
    with pytest.raises(SplitError, match="no units"):
        allocate(100, {})
