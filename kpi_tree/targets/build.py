"""A whole plan computed: the year, its months, weeks and days, every node, every unit.

``compute_plan`` is pure: the caller passes the plan, the tree, the top KPI's monthly history
and the trailing measure totals (for drivers planned as ``null``), and gets back a
:class:`PlanTargets` whose ``rows()`` are ready for a targets table (kpi, grain, period, scope,
value). Money is exact in fen throughout the top KPI's split; the other nodes are derived per
period from the period's top target, so their identities hold at every grain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from kpi_tree.model import Tree
from kpi_tree.targets.allocate import SEP, allocate_units
from kpi_tree.targets.calendar import (
    MONTHS,
    day_factors,
    iso_week,
    monthly_weights,
    quarter,
)
from kpi_tree.targets.derive import (
    derive_targets,
    resolve,
    trailing_drivers,
    trailing_shares,
)
from kpi_tree.targets.plan import (
    Allocation,
    AnnualTarget,
    Plan,
    PlanError,
    annual_target,
    check_plan_against_tree,
    with_stated_year,
)
from kpi_tree.targets.split import (
    SplitError,
    apply_year_end_cap,
    carve_new_business,
    from_cents,
    split_days,
    split_exact,
    split_months,
    split_table,
    to_cents,
)

GRAINS = ("year", "quarter", "month", "week", "day")
ALL, UPSIDE = "all", "new_business"


@dataclass(frozen=True)
class TargetRow:
    kpi: str
    grain: str
    period: str  # 2026 | 2026-Q1 | 2026-01 | 2026-W05 | 2026-01-05
    period_start: dt.date
    period_end: dt.date  # inclusive; weeks are clipped to the plan year
    scope: str  # all | new_business | <allocation>:<unit path>
    value: float


@dataclass(frozen=True)
class PlanTargets:
    plan: Plan
    annual: AnnualTarget
    annual_cents: int  # the year's target, new business included
    new_business_cents: int  # carved out, tracked as upside
    base_cents: int  # annual − new business: what the months are split from
    month_weights: dict[int, float]
    day_factors: dict[dt.date, float]
    months: dict[int, int]  # add up to round((1 + buffer) × base), year-end cap applied
    days: dict[dt.date, int]  # each month's days add up to the month
    upside_months: dict[int, int]
    upside_days: dict[dt.date, int]
    drivers: dict[str, float]  # resolved (trailing history where the plan says null)
    shares: dict[str, float]
    allocations: dict[str, dict[str, dict[dt.date, int]]] = field(default_factory=dict)
    #: where last year's figure came from: "warehouse", "plan" (stated in it), or None
    last_year_from: str | None = None
    #: the drivers and shares planned as the trailing history -> the window they were read
    #: from: "mature" (a KPI that matures, from mature days only) or "trailing" (the window)
    history_basis: dict[str, str] = field(default_factory=dict)

    @property
    def months_total_cents(self) -> int:
        return sum(self.months.values())

    @property
    def applied_shares(self) -> dict[int, float]:
        """Each month's share of the months' total as split, the year-end cap applied (the
        weights before it are ``month_weights``)."""
        total = self.months_total_cents
        return {m: (v / total if total else 0.0) for m, v in self.months.items()}

    @property
    def upside_total_cents(self) -> int:
        return sum(self.upside_months.values())

    def tree_targets(self, tree: Tree, top_value: float) -> dict[str, float]:
        """Every node's target for a period whose top target is ``top_value`` (money)."""
        return derive_targets(tree, self.plan.top_kpi, top_value, self.drivers, self.shares)

    def rows(self, tree: Tree) -> list[TargetRow]:
        """Every target: the top KPI and every derived node at every grain (scope ``all``), the
        new-business upside (scope ``new_business``, top KPI) and each allocation's units."""
        out: list[TargetRow] = []
        top = self.plan.top_kpi
        for key, (start, end, cents) in _periods(self.days).items():
            grain, label = key
            for kpi, value in self.tree_targets(tree, float(from_cents(cents))).items():
                out.append(TargetRow(kpi, grain, label, start, end, ALL, value))
        for (grain, label), (start, end, cents) in _periods(self.upside_days).items():
            out.append(TargetRow(top, grain, label, start, end, UPSIDE, float(from_cents(cents))))
        for alloc in self.plan.allocations:
            for path, days in self.allocations[alloc.name].items():
                for (grain, label), (start, end, cents) in _periods(days).items():
                    out.append(
                        TargetRow(
                            alloc.kpi,
                            grain,
                            label,
                            start,
                            end,
                            f"{alloc.name}:{path}",
                            float(from_cents(cents)),
                        )
                    )
        return out


def _periods(days: Mapping[dt.date, int]) -> dict[tuple[str, str], tuple[dt.date, dt.date, int]]:
    """(grain, label) -> (first day, last day, sum) for every grain."""
    out: dict[tuple[str, str], tuple[dt.date, dt.date, int]] = {}

    def add(key: tuple[str, str], day: dt.date, value: int) -> None:
        if key in out:
            start, end, total = out[key]
            out[key] = (min(start, day), max(end, day), total + value)
        else:
            out[key] = (day, day, value)

    for day in sorted(days):
        v = days[day]
        iy, iw = iso_week(day)
        add(("year", f"{day.year}"), day, v)
        add(("quarter", f"{day.year}-Q{quarter(day)}"), day, v)
        add(("month", f"{day.year}-{day.month:02d}"), day, v)
        add(("week", f"{iy}-W{iw:02d}"), day, v)
        add(("day", day.isoformat()), day, v)
    order = {g: i for i, g in enumerate(GRAINS)}
    return dict(sorted(out.items(), key=lambda kv: (order[kv[0][0]], kv[1][0])))


def _history_months(
    history: Mapping[tuple[int, int], float] | None, year: int
) -> dict[int, float] | None:
    if not history:
        return None
    months = {m: float(v) for (y, m), v in history.items() if y == year}
    if len(months) == 12 and sum(months.values()) > 0:
        return months
    return None


def compute_plan(
    plan: Plan,
    tree: Tree,
    *,
    history: Mapping[tuple[int, int], float] | None = None,
    trailing_totals: Mapping[str, float] | None = None,
    mature_totals: Mapping[str, float] | None = None,
) -> PlanTargets:
    """Compute every target of a plan.

    ``history``: the top KPI's monthly actuals, (year, month) -> amount (forward methods use
    the full years; the monthly shape comes from the year before the plan year when all 12
    months are there, else from the plan's ``monthly_profile``). ``trailing_totals``: measure
    id -> Σ over a trailing window, for drivers and shares planned as null. ``mature_totals``:
    the same over a window of mature days (ending ``maturity_days`` before the newest), which
    the drivers and shares of KPIs that mature are read from (a sign-off rate over days whose
    sign-offs have not arrived would be planned low).
    """
    check_plan_against_tree(plan, tree)
    annual = annual_target(plan, history)
    annual_cents = to_cents(annual.value)
    base, upside = carve_new_business(annual_cents, to_cents(plan.new_business.amount))
    stated, last_year_from = with_stated_year(plan, history)
    shape = _history_months(stated, plan.year - 1)
    if shape is None and plan.monthly_profile is None:
        raise PlanError(
            f"monthly_profile: is required when the history has no full year {plan.year - 1} "
            "(or state its 12 months in last_year)"
        )
    weights = monthly_weights(
        plan.year,
        plan.calendar,
        history=shape,
        profile=plan.monthly_profile if shape is None else None,
        profile_year=plan.profile_year,
    )
    cap = None
    if plan.year_end_cap is not None:
        cap = (plan.year_end_cap.months, plan.year_end_cap.max_share)
    months = split_months(base, weights, buffer=plan.buffer, year_end_cap=cap)
    factors = day_factors(plan.year, plan.calendar)
    days = split_days(months, factors)
    # the new business is tracked from its first month on, in the year's shape
    nb_months = [m for m in MONTHS if m >= plan.new_business.from_month]
    upside_months = dict.fromkeys(MONTHS, 0)
    upside_parts = split_exact(upside, [weights[m] for m in nb_months])
    if cap is not None and upside:
        # the upside is not back-loaded either: the cap holds within its own months
        if len(nb_months) <= cap[0]:
            raise PlanError(
                f"new_business.from_month: the upside starts in month {nb_months[0]}, within the "
                f"last {cap[0]} months that year_end_cap limits: start it earlier, or lower "
                "year_end_cap.months"
            )
        try:
            upside_parts = apply_year_end_cap(upside_parts, cap[0], cap[1])
        except SplitError as err:
            raise PlanError(f"year_end_cap: {err}") from err
    upside_months.update(zip(nb_months, upside_parts, strict=True))
    upside_days = {
        d: v for d, v in split_days(upside_months, factors).items() if d.month in nb_months
    }
    trailing = dict(trailing_totals or {})
    mature = dict(mature_totals) if mature_totals is not None else None
    drivers = resolve(plan.drivers, trailing_drivers(tree, trailing, mature), "drivers")
    shares = resolve(plan.shares, trailing_shares(tree, trailing, mature), "shares")
    history_basis = {}
    for key in [k for k, v in {**plan.drivers, **plan.shares}.items() if v is None]:
        node = tree.nodes[key]
        # a share is read as its parent's identity is
        judged = tree.nodes[node.parent] if key in plan.shares and node.parent else node
        history_basis[key] = (
            "mature" if mature is not None and tree.node_matures(judged) else "trailing"
        )
    # check the tree is determined once, on the year
    derive_targets(tree, plan.top_kpi, float(from_cents(sum(months.values()))), drivers, shares)
    allocations = {}
    for alloc in plan.allocations:
        if alloc.kpi == plan.top_kpi:
            kpi_months = dict(months)
        else:
            kpi_months = {
                month: to_cents(
                    derive_targets(
                        tree, plan.top_kpi, float(from_cents(months[month])), drivers, shares
                    )[alloc.kpi]
                )
                for month in MONTHS
            }
        allocations[alloc.name] = _allocate_days(alloc, kpi_months, days)
    return PlanTargets(
        plan=plan,
        annual=annual,
        annual_cents=annual_cents,
        new_business_cents=upside,
        base_cents=base,
        month_weights=weights,
        day_factors=factors,
        months=months,
        days=days,
        upside_months=upside_months,
        upside_days=upside_days,
        drivers=drivers,
        shares=shares,
        allocations=allocations,
        last_year_from=last_year_from,
        history_basis=history_basis,
    )


def _allocate_days(
    alloc: Allocation, kpi_months: Mapping[int, int], days: Mapping[dt.date, int]
) -> dict[str, dict[dt.date, int]]:
    """Each unit's day targets (cents), exact at every level: the units' years are split from
    the KPI's year (largest remainder, with each split's uplift: 20M over 6:5:4:4:3 with 10 %
    is exactly 6M + 5M + 4M + 4M + 3M); each unit's year over the months so that its months
    add up to its year and the units of a month to the month's share (:func:`split_table`);
    each unit's month over its days by the day targets."""
    years = allocate_units(sum(kpi_months.values()), alloc.units, by=alloc.by, uplift=alloc.uplift)
    unit_months: dict[str, dict[int, int]] = {}

    def spread(parent_months: Mapping[int, int], children: list[str]) -> None:
        rows = [years[c] for c in children]
        columns = (
            split_exact(sum(rows), [parent_months[m] for m in MONTHS])
            if any(parent_months.values())
            else split_exact(sum(rows), [1] * len(MONTHS))
        )
        table = split_table(rows, columns)
        for child, cells in zip(children, table, strict=True):
            unit_months[child] = dict(zip(MONTHS, cells, strict=True))
            grandchildren = [
                p
                for p in years
                if p.startswith(child + SEP) and p.count(SEP) == child.count(SEP) + 1
            ]
            if grandchildren:
                spread(unit_months[child], grandchildren)

    spread(kpi_months, [p for p in years if SEP not in p])
    out: dict[str, dict[dt.date, int]] = {}
    for path, per_month in unit_months.items():
        unit_days: dict[dt.date, int] = {}
        for month in MONTHS:
            month_days = {d: v for d, v in days.items() if d.month == month}
            weights = (
                list(month_days.values()) if any(month_days.values()) else [1] * len(month_days)
            )
            unit_days.update(zip(month_days, split_exact(per_month[month], weights), strict=True))
        out[path] = unit_days
    return out
