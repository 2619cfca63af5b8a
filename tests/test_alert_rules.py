"""The nightly alert rules (pipelines/alerts/detect.py) on hand-made pace rows and history."""

from __future__ import annotations

import datetime as dt

from pipelines.alerts.detect import Rules, is_break, pace_findings, severity

MONTH = dt.date(2026, 6, 1)


def row(day: int, status: str, attainment: float, kpi: str = "gmv", days_left: int = 15) -> dict:
    return {
        "as_of_day": dt.date(2026, 6, day),
        "kpi_id": kpi,
        "scope": "all",
        "team": "management",
        "period_grain": "month",
        "period_start": MONTH,
        "status": status,
        "attainment": attainment,
        "days_left": days_left,
    }


def record(f) -> dict:
    """What the alert history keeps of a raised finding."""
    return {
        "day": f.day.isoformat(),
        "kpi": f.kpi,
        "scope": f.scope,
        "period_grain": f.period_grain,
        "period_start": str(f.period_start),
        "kind": f.kind,
        "status": f.status,
        "shortfall": f.shortfall,
    }


def nights(*rows: dict) -> list[list]:
    """Run the rules night after night, feeding each night's alerts into the history."""
    history: list[dict] = []
    out = []
    for r in rows:
        found = pace_findings([r], history)
        history += [record(f) for f in found]
        out.append(found)
    return out


def test_the_same_shortfall_two_nights_gives_one_alert():
    first, second = nights(row(14, "short", 0.85), row(15, "short", 0.86))
    assert [f.kind for f in first] == ["short"] and second == []


def test_a_worse_second_night_alerts_again():
    first, second = nights(row(14, "short", 0.85), row(15, "short", 0.79))
    assert [f.kind for f in first] == ["short"] and [f.kind for f in second] == ["short"]
    assert round(second[0].shortfall, 6) == 0.21
    # at risk, then short: worse status
    a, b = nights(row(14, "at_risk", 0.95), row(15, "short", 0.89))
    assert [f.kind for f in a] == ["at_risk"] and [f.kind for f in b] == ["short"]


def test_a_gap_that_grows_less_than_the_threshold_is_not_repeated():
    _, second, third = nights(
        row(13, "short", 0.85), row(14, "short", 0.81), row(15, "short", 0.79)
    )
    assert second == []  # 4 points worse: under the 5-point threshold
    assert [f.kind for f in third] == ["short"]  # 6 points worse than the last alert


def test_recovery_notice_once_back_on_track_and_nothing_for_a_team_never_alerted():
    first, second, third = nights(
        row(13, "short", 0.85), row(14, "on_track", 1.01), row(15, "on_track", 1.02)
    )
    assert [f.kind for f in second] == ["recovered"] and third == []
    assert nights(row(15, "on_track", 1.2)) == [[]]


def test_a_rerun_of_the_same_day_raises_nothing_twice():
    history: list[dict] = []
    first = pace_findings([row(15, "short", 0.8)], history)
    history += [record(f) for f in first]
    assert pace_findings([row(15, "short", 0.8)], history) == []


def test_severity_from_the_gap_and_the_days_left():
    rules = Rules()
    assert severity("short", 0.75, 15, rules) == "critical"  # 25 % short
    assert severity("short", 0.9, 15, rules) == "warning"
    assert severity("short", 0.9, 3, rules) == "critical"  # the last week
    assert severity("at_risk", 0.95, 15, rules) == "info"
    assert severity("at_risk", 0.95, 3, rules) == "warning"


def test_breaks_against_the_same_weekdays():
    usual = [100, 104, 98, 101, 97, 103, 99, 102]
    assert is_break(40, usual)  # a collapse
    assert is_break(180, usual)
    assert not is_break(108, usual)  # within range
    assert not is_break(40, usual[:3])  # too little history to judge
