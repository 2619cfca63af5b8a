"""Targets across the organisation: regions -> teams -> people, by weights or ability.

A 20M team target over five reps by ability (6 : 5 : 4 : 4 : 3) with a 10 % uplift becomes
6M + 5M + 4M + 4M + 3M = 22M, more than the whole, so one rep's miss does not sink the team;
regions split 40 % / 60 % (docs/domain.md, seed 000). Splits are exact in cents: a unit's
parts add up to exactly round((1 + uplift) × the unit's target).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kpi_tree.targets.plan import Allocation, OrgUnit
from kpi_tree.targets.split import Number, SplitError, exact, scaled, split_exact

SEP = "/"


def allocate(
    total: int, weights: Mapping[str, Number], *, uplift: Number = 0, by: str = "weights"
) -> dict[str, int]:
    """Split ``total`` cents over units; the parts add up to round((1 + uplift) × total).

    ``by="weights"``: shares that must add up to 1 (40 % / 60 %); ``by="scores"``: ability
    scores of any scale (6, 5, 4, 4, 3), normalised.
    """
    if by not in ("weights", "scores"):
        raise SplitError(f"by must be weights or scores, got {by!r}")
    if not weights:
        raise SplitError("no units to allocate over")
    if any(exact(w) < 0 for w in weights.values()):
        raise SplitError("weights and scores must be >= 0")
    wsum = sum(exact(w) for w in weights.values())
    if by == "weights" and abs(wsum - 1) > exact("1e-9"):
        raise SplitError(f"weights must add up to 1, got {float(wsum):g} (or use by='scores')")
    if exact(uplift) < 0:
        raise SplitError("uplift must be >= 0")
    keys = list(weights)
    parts = split_exact(scaled(total, 1 + exact(uplift)), [weights[k] for k in keys])
    return dict(zip(keys, parts, strict=True))


def allocate_units(
    total: int,
    units: Sequence[OrgUnit],
    *,
    by: str = "weights",
    uplift: Number = 0,
    prefix: str = "",
) -> dict[str, int]:
    """Allocate down a nested organisation; keys are unit paths (``region_a/rep_1``).

    Each unit's own units split it by its ``by`` with its ``uplift``.
    """
    out: dict[str, int] = {}
    parts = allocate(total, {u.id: u.weight for u in units}, uplift=uplift, by=by)
    for unit in units:
        path = f"{prefix}{SEP}{unit.id}" if prefix else unit.id
        out[path] = parts[unit.id]
        if unit.units:
            out.update(
                allocate_units(
                    parts[unit.id], unit.units, by=unit.by, uplift=unit.uplift, prefix=path
                )
            )
    return out


def allocate_plan(total: int, allocation: Allocation) -> dict[str, int]:
    """One of the plan's allocations applied to a target (cents)."""
    return allocate_units(total, allocation.units, by=allocation.by, uplift=allocation.uplift)


def children_of(paths: Mapping[str, int], parent: str | None) -> dict[str, int]:
    """The direct units of ``parent`` (None: the top level) in an :func:`allocate_units` result."""
    depth = 0 if parent is None else parent.count(SEP) + 1
    return {
        p: v
        for p, v in paths.items()
        if p.count(SEP) == depth and (parent is None or p.startswith(parent + SEP))
    }
