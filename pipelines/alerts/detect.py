"""Which alerts a night raises: pure rules over the pace rows and the alert history.

- **Pace** (kinds ``short`` / ``at_risk``): a KPI × scope whose period-to-date attainment is
  below its thresholds. One alert per KPI × scope × day; a later night of the same period
  alerts again only when the status worsens (at risk → short) or the shortfall grew by at
  least ``realert_points``; a ``recovered`` notice when an alerted KPI is back on track.
- **Breaks** (kind ``break``): a day far outside the KPI's own weekday-adjusted recent range
  (the same weekday of the last weeks), even when the target is met.
- Severity from the size of the shortfall and the days left in the period.
- A day on which a source of the KPI is missing (``day_missing``) is unknown: nothing is
  judged that day. A period with such days is judged over the other days (the pace row's
  actual and paced target leave them out) and its alert says it is incomplete.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SHORT, AT_RISK, ON_TRACK = "short", "at_risk", "on_track"
RECOVERED, BREAK, HELD_BACK = "recovered", "break", "held_back"
RANK = {ON_TRACK: 0, AT_RISK: 1, SHORT: 2}


@dataclass(frozen=True)
class Rules:
    realert_points: float = 5.0  # re-alert when the shortfall grew by this many points
    critical_shortfall: float = 0.2  # short by 20 % or more of the paced target: critical
    last_days: int = 7  # short within the period's last week: critical
    break_weeks: int = 8  # same weekdays looked back on for breaks
    break_z: float = 4.0  # robust z-score (median / MAD) a break must pass
    break_min_change: float = 0.3  # and at least this relative change from the median
    break_min_history: int = 4


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    team: str
    kpi: str
    scope: str
    day: dt.date
    period_grain: str
    period_start: dt.date
    status: str | None
    attainment: float | None
    shortfall: float | None  # 1 − attainment (how far behind the paced target)
    row: Mapping[str, Any]


def shortfall(attainment: float | None) -> float | None:
    return None if attainment is None else 1.0 - attainment


def severity(status: str, attainment: float | None, days_left: int, rules: Rules) -> str:
    gap = shortfall(attainment) or 0.0
    if status == SHORT:
        return (
            "critical"
            if gap >= rules.critical_shortfall or days_left < rules.last_days
            else ("warning")
        )
    if status == AT_RISK:
        return "warning" if days_left < rules.last_days else "info"
    return "info"


def pace_findings(
    rows: Iterable[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    rules: Rules = Rules(),
) -> list[Finding]:
    """The pace alerts of one day. ``rows``: that day's kpi_vs_target rows; ``history``: the
    alerts already raised (dicts with day, kpi, scope, period_grain, period_start, kind, status,
    shortfall), earlier days and this day (a rerun raises nothing twice)."""
    out = []
    for r in rows:
        day, status = r["as_of_day"], r["status"]
        if status is None or r.get("day_missing"):
            continue  # nothing to judge, or the day itself is unknown (a source missing)
        key = (r["kpi_id"], r["scope"], r["period_grain"], str(r["period_start"]))
        same = [
            h
            for h in history
            if (h["kpi"], h["scope"], h["period_grain"], str(h["period_start"])) == key
            and h["kind"] in (SHORT, AT_RISK, RECOVERED)
        ]
        if any(str(h["day"]) == str(day) for h in same):
            continue  # already decided for this day
        earlier = sorted((h for h in same if str(h["day"]) < str(day)), key=lambda h: str(h["day"]))
        last = earlier[-1] if earlier else None
        alerted = last is not None and last["kind"] in (SHORT, AT_RISK)
        gap = shortfall(r["attainment"])
        kind = None
        if status in (SHORT, AT_RISK):
            if not alerted:
                kind = status
            elif RANK[status] > RANK[last["status"]]:
                kind = status  # worse
            elif (
                gap is not None
                and last.get("shortfall") is not None
                and (gap - float(last["shortfall"])) * 100 >= rules.realert_points
            ):
                kind = status  # the gap grew
        elif status == ON_TRACK and alerted:
            kind = RECOVERED
        if kind is None:
            continue
        sev = (
            "info"
            if kind == RECOVERED
            else severity(status, r["attainment"], r["days_left"], rules)
        )
        out.append(
            Finding(
                kind=kind,
                severity=sev,
                team=r["team"],
                kpi=r["kpi_id"],
                scope=r["scope"],
                day=day,
                period_grain=r["period_grain"],
                period_start=r["period_start"],
                status=status,
                attainment=r["attainment"],
                shortfall=gap,
                row=r,
            )
        )
    return out


def is_break(value: float, same_weekdays: Sequence[float], rules: Rules = Rules()) -> bool:
    """A day far outside its own recent range: the robust z-score against the same weekdays
    of the last weeks passes ``break_z`` and the change from their median ``break_min_change``.
    """
    history = [v for v in same_weekdays if v is not None]
    if len(history) < rules.break_min_history:
        return False
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history) * 1.4826
    change = abs(value - median) / abs(median) if median else float("inf")
    if change < rules.break_min_change:
        return False
    if mad == 0:
        return True
    return abs(value - median) / mad >= rules.break_z
