"""Pace against a target and what it takes to catch up (docs/domain.md: seed 000's 月中检,
the mid-month check; docs/domain.md, seed 002's 第五步, one driver making up for another).

The paced target to date is the target × (Σ day weights to date / Σ all day weights of the
period): the target's own daily shape, not a straight line. Pass the period's planned day
targets as the weights and the paced target is exactly the sum of the day targets to date.

Projected period end at the current run rate = actual + (actual per elapsed weight) × remaining
weight = actual / elapsed share. Status compares actual with the paced target (which is the
same as comparing the projection with the target): attainment >= ``on_track`` is on track,
>= ``at_risk`` at risk, else short.

Catch-up: what the remaining days need overall (split exactly over them by their weights), and,
when some children of an identity are held at their run rate for the rest of the period, what
the others must reach instead (一个达不成, 另一个必须补上).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from kpi_tree.model import Tree
from kpi_tree.targets.split import Number, exact, round_half_up, split_exact

ON_TRACK, AT_RISK, SHORT = "on_track", "at_risk", "short"
REL_TOL = 1e-9


class PaceError(ValueError):
    """Pace or catch-up inputs are inconsistent."""


@dataclass(frozen=True)
class Thresholds:
    """Attainment of the paced target: >= on_track is on track, >= at_risk at risk, else short."""

    on_track: float = 1.0
    at_risk: float = 0.9

    def __post_init__(self) -> None:
        if not 0 <= self.at_risk <= self.on_track:
            raise PaceError("thresholds: need 0 <= at_risk <= on_track")

    def status(self, attainment: float | None) -> str | None:
        if attainment is None:
            return None
        if attainment >= self.on_track:
            return ON_TRACK
        return AT_RISK if attainment >= self.at_risk else SHORT


def elapsed_share(weights: Mapping[dt.date, Number], as_of: dt.date) -> Fraction:
    """Σ weights of the days up to and including ``as_of`` / Σ all weights (exact)."""
    total = sum((exact(w) for w in weights.values()), Fraction(0))
    if total <= 0:
        raise PaceError("the period's day weights add up to zero")
    done = sum((exact(w) for d, w in weights.items() if d <= as_of), Fraction(0))
    return done / total


def paced_target(target: Number, weights: Mapping[dt.date, Number], as_of: dt.date) -> float:
    return float(exact(target) * elapsed_share(weights, as_of))


@dataclass(frozen=True)
class Pace:
    target: float
    actual: float
    paced_target: float
    elapsed_share: float
    attainment: float | None  # actual vs paced (inverted for lower-is-better KPIs)
    target_attainment: float | None  # actual / the whole period's target
    gap: float  # actual − paced (negative: behind, for higher-is-better)
    projected: float | None  # period end at the current run rate
    status: str | None


def pace(
    target: Number,
    actual: Number,
    weights: Mapping[dt.date, Number],
    as_of: dt.date,
    thresholds: Thresholds = Thresholds(),
    direction: str = "higher",
) -> Pace:
    """Where an additive KPI stands against its period target on ``as_of``."""
    if direction not in ("higher", "lower"):
        raise PaceError(f"direction must be higher or lower, got {direction!r}")
    share = elapsed_share(weights, as_of)
    t, a = exact(target), exact(actual)
    paced = t * share
    if direction == "higher":
        attainment = a / paced if paced else None
    else:
        attainment = paced / a if a else None
    projected = a / share if share else None
    return Pace(
        target=float(t),
        actual=float(a),
        paced_target=float(paced),
        elapsed_share=float(share),
        attainment=None if attainment is None else float(attainment),
        target_attainment=float(a / t) if t else None,
        gap=float(a - paced),
        projected=None if projected is None else float(projected),
        status=thresholds.status(None if attainment is None else float(attainment)),
    )


def rate_status(
    actual: float, target: float, thresholds: Thresholds = Thresholds(), direction: str = "higher"
) -> tuple[float | None, str | None]:
    """(attainment, status) of a ratio KPI (not paced: its target holds every day)."""
    if direction == "higher":
        att = actual / target if target else None
    else:
        att = target / actual if actual else None
    return att, thresholds.status(att)


@dataclass(frozen=True)
class CatchUp:
    target: int
    actual: int
    needed: int  # what the remaining days must bring (cents; <= 0: already made)
    planned_remaining: int  # what the plan expected of them
    days: dict[dt.date, int]  # ``needed`` split over the remaining days by their weights
    factor: float | None  # needed / planned_remaining: how much harder than planned


def catch_up(
    target: int, actual: int, weights: Mapping[dt.date, Number], as_of: dt.date
) -> CatchUp:
    """What each remaining day (after ``as_of``) needs so that the period lands on ``target``.

    Integers (cents): actual + Σ days == target exactly. If the target is already made, the
    remaining days need nothing (all zero).
    """
    remaining = {d: w for d, w in sorted(weights.items()) if d > as_of}
    needed = target - actual
    planned = target - round_half_up(exact(target) * elapsed_share(weights, as_of))
    if needed <= 0:
        days = dict.fromkeys(remaining, 0)
    else:
        if not remaining:
            raise PaceError(f"the period has no days left after {as_of}")
        days = dict(zip(remaining, split_exact(needed, list(remaining.values())), strict=True))
    return CatchUp(target, actual, needed, planned, days, needed / planned if planned else None)


@dataclass(frozen=True)
class DriverCatchUp:
    """The remaining days' values of an identity's children that land the parent on target."""

    parent: str
    relation: str
    needed: float  # parent needed over the remaining days
    held: dict[str, float]  # children held at their run rate (remaining-days values)
    required: dict[str, float]  # the others: what they must reach over the remaining days
    factor: dict[str, float]  # required / planned


def catch_up_drivers(
    tree: Tree,
    parent: str,
    *,
    target: float,
    actual: Mapping[str, float],
    planned: Mapping[str, float],
    elapsed_share: float,
    hold: Iterable[str],
    absorb: str | None = None,
    covered: Mapping[str, float] | None = None,
) -> DriverCatchUp:
    """If ``hold`` stay at their run rate, what must the other children of ``parent`` reach?

    ``actual``: to-date values (the parent's, and the held children's: a count's total to date,
    a rate's value to date). ``planned``: the remaining days' planned value of each child (a
    count's planned total over the remaining days, a rate's planned value). A held count runs
    on at its rate per unit of day weight: actual × (1 − elapsed) / elapsed; a held rate stays.

    For a product identity the free children are scaled by a common factor (so each carries an
    equal part of the gap), or ``absorb`` takes it all; for a sum, the free parts are scaled in
    proportion, or ``absorb`` takes the difference. actual + the identity over the remaining
    days lands on ``target`` (checked to a relative 1e-9).

    ``covered``: per count, the share of its days to date that have data (a day a source is
    missing is left out of its actual, as pace leaves it out); its run rate is over those days
    only. Default 1: every day counted.
    """
    kids_by_rel = {(p.id): (rel, [k.id for k in kids]) for p, rel, kids in tree.identities()}
    if parent not in kids_by_rel:
        raise PaceError(f"'{parent}' is not the parent of an identity")
    relation, kids = kids_by_rel[parent]
    if tree.nodes[parent].kind != "sum":
        raise PaceError(f"'{parent}' is not additive: catch-up needs a period total")
    if not 0 < elapsed_share < 1:
        raise PaceError(f"elapsed_share must be between 0 and 1 (exclusive), got {elapsed_share}")
    hold = list(hold)
    unknown = [h for h in hold if h not in kids]
    if unknown:
        raise PaceError(f"hold: {unknown} are not children of {parent} ({kids})")
    free = [k for k in kids if k not in hold]
    if not free:
        raise PaceError("hold: at least one child must be free to make up the gap")
    if absorb is not None and absorb not in free:
        raise PaceError(f"absorb: '{absorb}' must be a child of {parent} that is not held")
    missing = [k for k in free if k not in planned] + [h for h in hold if h not in actual]
    if parent not in actual:
        missing.append(parent)
    if missing:
        raise PaceError(f"missing values for {missing}")
    held: dict[str, float] = {}
    for h in hold:
        if tree.nodes[h].kind == "sum":
            share = elapsed_share * (covered or {}).get(h, 1.0)
            if share <= 0:
                raise PaceError(f"{h} has no day with data to date: no run rate to hold")
            held[h] = actual[h] * (1 - elapsed_share) / share
        else:
            held[h] = actual[h]
    needed = float(target) - float(actual[parent])
    required: dict[str, float] = {}
    if relation == "product":
        held_product = math.prod(held.values())
        if held_product <= 0:
            raise PaceError(f"the held children {hold} are zero: nothing can make up the gap")
        need_free = needed / held_product
        if need_free < 0:
            raise PaceError(f"{parent} is already beyond its target; nothing to catch up")
        if absorb is None:
            base = math.prod(planned[k] for k in free)
            if base <= 0:
                raise PaceError(f"planned values of {free} must be > 0")
            factor = (need_free / base) ** (1 / len(free))
            required = {k: planned[k] * factor for k in free}
        else:
            others = math.prod(planned[k] for k in free if k != absorb)
            if others <= 0:
                raise PaceError(f"planned values of {free} must be > 0")
            required = {k: planned[k] for k in free if k != absorb}
            required[absorb] = need_free / others
        landed = float(actual[parent]) + math.prod(held.values()) * math.prod(required.values())
    else:
        need_free = needed - math.fsum(held.values())
        if absorb is None:
            base = math.fsum(planned[k] for k in free)
            if base <= 0:
                raise PaceError(f"planned values of {free} must be > 0")
            required = {k: planned[k] * need_free / base for k in free}
        else:
            required = {k: planned[k] for k in free if k != absorb}
            required[absorb] = need_free - math.fsum(required.values())
        landed = float(actual[parent]) + math.fsum([*held.values(), *required.values()])
    if not math.isclose(landed, float(target), rel_tol=REL_TOL, abs_tol=1e-9):
        raise PaceError(f"catch-up does not land on the target: {landed!r} != {target!r}")
    factor_out = {k: required[k] / planned[k] for k in required if planned.get(k)}
    ordered = {k: required[k] for k in kids if k in required}
    return DriverCatchUp(parent, relation, needed, held, ordered, factor_out)
