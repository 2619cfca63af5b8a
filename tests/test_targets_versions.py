"""Versions: a mid-month change applies from its effective date; past days keep their targets."""

from __future__ import annotations

import datetime as dt

import pytest

from kpi_tree.targets.calendar import date_range
from kpi_tree.targets.versions import (
    PlanVersion,
    VersionError,
    effective_series,
    effective_targets,
    effective_version,
)

JAN = list(date_range(dt.date(2026, 1, 1), dt.date(2026, 1, 31)))
KEY = ("net_revenue", "all")


def version(vid, created, effective, value, reason="plan"):
    return PlanVersion(
        version_id=vid,
        author="ops@shop",
        created_at=created,
        reason=reason,
        effective_from=effective,
        plan_hash=f"hash-{vid}",
        targets={d: {KEY: value} for d in JAN},  # each version states every day
    )


V1 = version("v1", dt.datetime(2025, 12, 20, 9), dt.date(2026, 1, 1), 100.0)
V2 = version("v2", dt.datetime(2026, 1, 15, 18), dt.date(2026, 1, 16), 120.0, "new channel")


def test_a_new_version_leaves_the_past_days_of_the_old_one_untouched():
    before = effective_series([V1], JAN)
    after = effective_series([V1, V2], JAN)
    for day in JAN:
        if day < dt.date(2026, 1, 16):
            assert after[day] == before[day] == ("v1", {KEY: 100.0})
        else:
            assert after[day] == ("v2", {KEY: 120.0})
    month = sum(targets[KEY] for _, targets in after.values())
    assert month == 15 * 100 + 16 * 120  # the month stitched from both versions


def test_latest_created_wins_and_known_at_replays_the_past():
    assert effective_version([V2, V1], dt.date(2026, 1, 20)) is V2
    assert effective_version([V1, V2], dt.date(2025, 12, 31)) is None
    assert effective_targets([V1, V2], dt.date(2025, 12, 31)) == (None, {})
    # what we believed on the 10th
    assert effective_targets([V1, V2], dt.date(2026, 1, 20), known_at=dt.datetime(2026, 1, 10)) == (
        "v1",
        {KEY: 100.0},
    )
    # a later restatement effective from the 1st replaces both, and says it is retroactive
    v3 = version("v3", dt.datetime(2026, 2, 2), dt.date(2026, 1, 1), 90.0, "restated")
    assert v3.retroactive and not V2.retroactive
    assert effective_version([V1, V2, v3], dt.date(2026, 1, 20)) is v3
    assert (
        effective_version([V1, V2, v3], dt.date(2026, 1, 20), known_at=dt.datetime(2026, 2, 1))
        is V2
    )


def test_duplicate_version_ids_are_refused():
    with pytest.raises(VersionError, match="duplicate version ids"):
        effective_version([V1, V1], dt.date(2026, 1, 2))
