"""Plan versions: nothing is overwritten; each day is judged by the version in force that day.

The caller stores every computed plan as a :class:`PlanVersion` (who, when, why, from which day,
the plan's hash) with its targets. For a day, the version in force is the most recently created
one whose ``effective_from`` is on or before the day. A version created mid-month with an
effective date of the 16th therefore changes the 16th onwards and leaves the 1st to the 15th
with the targets they had. ``known_at`` answers "what did we believe then": only versions created
by that moment count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class VersionError(ValueError):
    """Versions are inconsistent (duplicate ids)."""


@dataclass(frozen=True)
class PlanVersion:
    version_id: str
    author: str
    created_at: dt.datetime
    reason: str
    effective_from: dt.date
    plan_hash: str
    # the version's targets, as the caller keys them, e.g. day -> {(kpi, scope): value}
    targets: Mapping[dt.date, Mapping[Any, float]] = field(default_factory=dict, repr=False)

    @property
    def retroactive(self) -> bool:
        """Effective before it was created: it rewrites days already judged (a restatement)."""
        return self.effective_from < self.created_at.date()


def _ordered(versions: Iterable[PlanVersion]) -> list[PlanVersion]:
    vs = list(versions)
    ids = [v.version_id for v in vs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise VersionError(f"duplicate version ids {dupes}")
    return sorted(vs, key=lambda v: (v.created_at, v.version_id))


def effective_version(
    versions: Iterable[PlanVersion], day: dt.date, *, known_at: dt.datetime | None = None
) -> PlanVersion | None:
    """The version in force on ``day``: the latest created with effective_from <= day."""
    chosen = None
    for v in _ordered(versions):
        if known_at is not None and v.created_at > known_at:
            continue
        if v.effective_from <= day:
            chosen = v
    return chosen


def effective_targets(
    versions: Iterable[PlanVersion], day: dt.date, *, known_at: dt.datetime | None = None
) -> tuple[str | None, Mapping[Any, float]]:
    """(version id, that version's targets for ``day``) of the version in force on ``day``."""
    v = effective_version(versions, day, known_at=known_at)
    if v is None:
        return None, {}
    return v.version_id, v.targets.get(day, {})


def effective_series(
    versions: Iterable[PlanVersion],
    days: Iterable[dt.date],
    *,
    known_at: dt.datetime | None = None,
) -> dict[dt.date, tuple[str | None, Mapping[Any, float]]]:
    """:func:`effective_targets` for every day: a period's stitched targets (old days, old
    version; new days, new version)."""
    vs = _ordered(versions)
    return {d: effective_targets(vs, d, known_at=known_at) for d in days}
