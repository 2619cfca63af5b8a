"""The plan file: what the year's target is and how to split it (see ``plans/example_2026.yaml``).

``load_plan`` reads YAML, ``parse_plan`` checks a mapping; both refuse a plan that cannot be
right with a :class:`PlanError` naming the field (``target.backward.gross_margin: ...``).
``annual_target`` computes the year's target for the top KPI from the plan and the monthly
history the caller passes in (forward 正推, backward 倒推 "以终定始", or combined 结合).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kpi_tree.targets.calendar import WEEKDAYS, CalendarSpec, FestivalSpec

METHODS = ("annual", "forward", "backward", "combined")
FORWARD_BASES = ("growth", "trend")
COMBINE_RULES = ("max", "min", "blend")
SPLIT_BY = ("weights", "scores")
PLANS_DIR = Path(__file__).resolve().parent.parent / "plans"
EXAMPLE_PLAN = PLANS_DIR / "example_2026.yaml"


class PlanError(ValueError):
    """The plan cannot be used; the message names the field."""


@dataclass(frozen=True)
class ForwardSpec:
    """正推法: last year's total × (1 + growth), or the linear trend of the last ``years`` years
    (× (1 + growth))."""

    basis: str = "growth"
    growth: float = 0.0
    years: int = 3


@dataclass(frozen=True)
class BackwardSpec:
    """倒推法 (以终定始): the revenue R such that
    R × gross_margin − R × variable_cost_rate − fixed_costs = net_profit."""

    net_profit: float
    gross_margin: float
    fixed_costs: float = 0.0
    variable_cost_rate: float = 0.0

    def revenue(self) -> float:
        return (self.net_profit + self.fixed_costs) / (self.gross_margin - self.variable_cost_rate)


@dataclass(frozen=True)
class TargetSpec:
    method: str
    annual: float | None = None
    forward: ForwardSpec | None = None
    backward: BackwardSpec | None = None
    combine: str = "max"  # combined: max | min | blend
    forward_weight: float = 0.5  # blend: forward_weight × forward + (1 − it) × backward


@dataclass(frozen=True)
class NewBusiness:
    amount: float = 0.0
    from_month: int = 1  # the upside is tracked from this month on


@dataclass(frozen=True)
class YearEndCap:
    months: int
    max_share: float


@dataclass(frozen=True)
class OrgUnit:
    id: str
    weight: float  # a share (by: weights) or an ability score (by: scores)
    by: str = "weights"  # how its own units split it
    uplift: float = 0.0  # its units add up to (1 + uplift) × it
    units: tuple[OrgUnit, ...] = ()


@dataclass(frozen=True)
class Allocation:
    """One split of a KPI's target over an organisation (regions -> teams -> people)."""

    name: str
    kpi: str
    by: str
    uplift: float
    units: tuple[OrgUnit, ...]
    #: the KPI's dimension whose members the top-level units are (e.g. channel): their actuals
    #: come from the warehouse, so the units' targets can be paced. None: targets only.
    dimension: str | None = None


@dataclass(frozen=True)
class Plan:
    year: int
    top_kpi: str
    target: TargetSpec
    new_business: NewBusiness = field(default_factory=NewBusiness)
    buffer: float = 0.0
    year_end_cap: YearEndCap | None = None
    monthly_profile: tuple[float, ...] | None = None
    profile_year: int | None = None
    calendar: CalendarSpec = field(default_factory=CalendarSpec)
    drivers: Mapping[str, float | None] = field(default_factory=dict)
    shares: Mapping[str, float | None] = field(default_factory=dict)
    allocations: tuple[Allocation, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def hash(self) -> str:
        return plan_hash(self.raw)


def plan_hash(raw: Mapping[str, Any]) -> str:
    """sha256 of the plan's canonical JSON: the same plan always hashes the same."""
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- field readers: each names the field it complains about ----------------------------


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PlanError(f"{where}: must be a mapping, got {type(value).__name__}")
    return dict(value)


def _unknown(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        prefix = f"{where}." if where else ""
        raise PlanError(f"{prefix}{extra[0]}: unknown field (allowed: {', '.join(allowed)})")


def _opt_number(
    data: Mapping[str, Any],
    key: str,
    where: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float | None:
    """The number at ``key`` (None when absent or null), checked against its bounds."""
    name = f"{where}.{key}" if where else key
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{name}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise PlanError(f"{name}: must be finite, got {value}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise PlanError(f"{name}: must be {'>' if lo_open else '>='} {lo:g}, got {value:g}")
    if hi is not None and value > hi:
        raise PlanError(f"{name}: must be <= {hi:g}, got {value:g}")
    return value


def _number(
    data: Mapping[str, Any],
    key: str,
    where: str,
    *,
    default: float | None = None,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
) -> float:
    """The number at ``key``; required when there is no default."""
    value = _opt_number(data, key, where, lo=lo, hi=hi, lo_open=lo_open)
    if value is not None:
        return value
    if default is None:
        raise PlanError(f"{where}.{key}: is required" if where else f"{key}: is required")
    return default


def _integer(
    data: Mapping[str, Any],
    key: str,
    where: str,
    *,
    default: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
) -> int:
    """The integer at ``key``; required when there is no default."""
    name = f"{where}.{key}" if where else key
    value = data.get(key, default)
    if value is None:
        raise PlanError(f"{name}: is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{name}: must be an integer, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise PlanError(f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def _choice(
    data: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...], default: str
) -> str:
    value = data.get(key, default)
    if value not in choices:
        name = f"{where}.{key}" if where else key
        raise PlanError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


# ---- sections ---------------------------------------------------------------------------


def _parse_target(data: Any) -> TargetSpec:
    where = "target"
    if isinstance(data, int | float) and not isinstance(data, bool):
        data = {"annual": data}
    d = _mapping(data, where)
    if not d:
        raise PlanError("target: is required (an annual number or a method)")
    _unknown(d, ("method", "annual", "forward", "backward", "combine", "forward_weight"), where)
    method = _choice(d, "method", where, METHODS, "annual")
    annual = _opt_number(d, "annual", where, lo=0, lo_open=True)
    if method == "annual" and annual is None:
        raise PlanError("target.annual: is required when target.method is annual")
    if method != "annual" and annual is not None:
        raise PlanError(f"target.annual: give either an annual number or method {method}, not both")
    forward = backward = None
    if method in ("forward", "combined"):
        w = "target.forward"
        f = _mapping(d.get("forward"), w)
        if not f:
            raise PlanError(f"{w}: is required when target.method is {method}")
        _unknown(f, ("basis", "growth", "years"), w)
        basis = _choice(f, "basis", w, FORWARD_BASES, "growth")
        if basis == "growth" and f.get("growth") is None:
            raise PlanError(f"{w}.growth: is required when basis is growth")
        forward = ForwardSpec(
            basis,
            _number(f, "growth", w, default=0.0, lo=-1, lo_open=True),
            _integer(f, "years", w, default=3, lo=2, hi=20),
        )
    if method in ("backward", "combined"):
        w = "target.backward"
        b = _mapping(d.get("backward"), w)
        if not b:
            raise PlanError(f"{w}: is required when target.method is {method}")
        _unknown(b, ("net_profit", "gross_margin", "fixed_costs", "variable_cost_rate"), w)
        backward = BackwardSpec(
            net_profit=_number(b, "net_profit", w),
            gross_margin=_number(b, "gross_margin", w, lo=0, lo_open=True, hi=1),
            fixed_costs=_number(b, "fixed_costs", w, default=0.0, lo=0),
            variable_cost_rate=_number(b, "variable_cost_rate", w, default=0.0, lo=0, hi=1),
        )
        if backward.gross_margin <= backward.variable_cost_rate:
            raise PlanError(
                f"{w}.gross_margin: must exceed variable_cost_rate, or no revenue can earn the "
                "net profit"
            )
        if backward.net_profit + backward.fixed_costs <= 0:
            raise PlanError(f"{w}.net_profit: net_profit + fixed_costs must be > 0")
    if method != "combined" and ("combine" in d or "forward_weight" in d):
        raise PlanError("target.combine: only with target.method combined")
    combine = _choice(d, "combine", where, COMBINE_RULES, "max")
    weight = _number(d, "forward_weight", where, default=0.5, lo=0, hi=1)
    return TargetSpec(method, annual, forward, backward, combine, weight)


def _parse_calendar(data: Any) -> CalendarSpec:
    where = "calendar"
    d = _mapping(data, where)
    _unknown(
        d,
        ("weekday_profile", "holiday_factor", "festival", "special_days", "reshape_history"),
        where,
    )
    w = "calendar.weekday_profile"
    profile = d.get("weekday_profile")
    if profile is None:
        weekdays = (1.0,) * 7
    elif isinstance(profile, Mapping):
        _unknown(profile, WEEKDAYS, w)
        weekdays = tuple(_number(profile, day, w, default=1.0, lo=0) for day in WEEKDAYS)
    elif isinstance(profile, list) and len(profile) == 7:
        weekdays = tuple(
            _number({day: v}, day, w, lo=0) for day, v in zip(WEEKDAYS, profile, strict=True)
        )
    else:
        raise PlanError(f"{w}: a mapping mon..sun or a list of 7 weights")
    if not any(weekdays):
        raise PlanError(f"{w}: the weights are all zero")
    holiday = _number(d, "holiday_factor", where, default=1.0, lo=0)
    festival: FestivalSpec | None = FestivalSpec()
    if "festival" in d:
        raw = d["festival"]
        if raw is None or raw is False:
            festival = None
        else:
            w = "calendar.festival"
            f = _mapping(raw, w)
            _unknown(f, ("days_before", "days_after", "factor"), w)
            festival = FestivalSpec(
                days_before=_integer(f, "days_before", w, default=7, lo=0, hi=30),
                days_after=_integer(f, "days_after", w, default=7, lo=0, hi=30),
                factor=_number(f, "factor", w, default=0.5, lo=0),
            )
    special: dict[tuple[int, int], float] = {}
    w = "calendar.special_days"
    for key, value in _mapping(d.get("special_days"), w).items():
        try:
            month, day = (int(x) for x in str(key).split("-"))
            dt.date(2024, month, day)  # a leap year, so 02-29 is allowed
        except ValueError as err:
            raise PlanError(f"{w}.{key}: the key must be MM-DD, e.g. '11-11'") from err
        special[(month, day)] = _number({str(key): value}, str(key), w, lo=0)
    reshape = d.get("reshape_history", True)
    if not isinstance(reshape, bool):
        raise PlanError(f"calendar.reshape_history: must be true or false, got {reshape!r}")
    return CalendarSpec(weekdays, holiday, festival, special, reshape)


def _parse_units(items: Any, where: str, by: str) -> tuple[OrgUnit, ...]:
    if not isinstance(items, list) or not items:
        raise PlanError(f"{where}: must be a non-empty list of units")
    units: list[OrgUnit] = []
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        u = _mapping(item, w)
        _unknown(u, ("id", "weight", "score", "by", "uplift", "units"), w)
        uid = u.get("id")
        if not uid or not isinstance(uid, str) or "/" in uid:
            raise PlanError(f"{w}.id: is required (a name without '/')")
        w = f"{where}[{uid}]"
        if any(x.id == uid for x in units):
            raise PlanError(f"{w}: duplicate id")
        key, other = ("weight", "score") if by == "weights" else ("score", "weight")
        if other in u:
            raise PlanError(f"{w}.{other}: its parent splits by {by}, so give '{key}'")
        weight = _number(u, key, w, lo=0)
        child_by = _choice(u, "by", w, SPLIT_BY, "weights")
        uplift = _number(u, "uplift", w, default=0.0, lo=0)
        children = _parse_units(u["units"], f"{w}.units", child_by) if u.get("units") else ()
        if not children and ("by" in u or "uplift" in u):
            raise PlanError(f"{w}: 'by' and 'uplift' need units to split over")
        units.append(OrgUnit(uid, weight, child_by, uplift, children))
    total = sum(u.weight for u in units)
    if total <= 0:
        raise PlanError(f"{where}: the {by} add up to zero")
    if by == "weights" and abs(total - 1) > 1e-9:
        raise PlanError(f"{where}: weights must add up to 1, got {total:g} (or use by: scores)")
    return tuple(units)


def _parse_allocations(data: Any, top_kpi: str) -> tuple[Allocation, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise PlanError("allocations: must be a list")
    out: list[Allocation] = []
    for i, item in enumerate(data):
        w = f"allocations[{i}]"
        a = _mapping(item, w)
        _unknown(a, ("name", "kpi", "by", "uplift", "units", "dimension"), w)
        name = a.get("name")
        if not name or not isinstance(name, str):
            raise PlanError(f"{w}.name: is required")
        w = f"allocations[{name}]"
        if any(x.name == name for x in out):
            raise PlanError(f"{w}: duplicate name")
        by = _choice(a, "by", w, SPLIT_BY, "weights")
        uplift = _number(a, "uplift", w, default=0.0, lo=0)
        kpi = a.get("kpi", top_kpi)
        if not isinstance(kpi, str):
            raise PlanError(f"{w}.kpi: must be a node id")
        units = _parse_units(a.get("units"), f"{w}.units", by)
        dimension = a.get("dimension")
        if dimension is not None and (not isinstance(dimension, str) or not dimension):
            raise PlanError(f"{w}.dimension: must be a dimension name (e.g. channel)")
        out.append(Allocation(name, kpi, by, uplift, units, dimension))
    return tuple(out)


def _parse_values(data: Any, where: str, *, hi: float | None = None) -> dict[str, float | None]:
    """node id -> a planned value, or None for "take the trailing history"."""
    return {
        str(key): _opt_number({str(key): value}, str(key), where, lo=0, hi=hi)
        for key, value in _mapping(data, where).items()
    }


def _parse_profile(data: Any) -> tuple[tuple[float, ...] | None, int | None]:
    if data is None:
        return None, None
    if isinstance(data, list):
        data = {"weights": data}
    p = _mapping(data, "monthly_profile")
    _unknown(p, ("weights", "reference_year"), "monthly_profile")
    w = "monthly_profile.weights"
    weights = p.get("weights")
    if not isinstance(weights, list) or len(weights) != 12:
        raise PlanError(f"{w}: must be a list of 12 weights, January first")
    profile = tuple(_number({f"[{i}]": v}, f"[{i}]", w, lo=0) for i, v in enumerate(weights))
    if not any(profile):
        raise PlanError(f"{w}: all zero")
    year = None
    if p.get("reference_year") is not None:
        year = _integer(p, "reference_year", "monthly_profile", lo=2000, hi=2100)
    return profile, year


TOP_FIELDS = (
    "year",
    "top_kpi",
    "target",
    "new_business",
    "buffer",
    "year_end_cap",
    "monthly_profile",
    "calendar",
    "drivers",
    "shares",
    "allocations",
    "name",
    "description",
)


def parse_plan(data: Mapping[str, Any], tree: Any | None = None) -> Plan:
    """Check a plan mapping. With ``tree`` (a :class:`kpi_tree.model.Tree`), node ids are checked
    too: the top KPI, every driver, share and allocated KPI must be a node of the tree."""
    d = _mapping(data, "plan")
    _unknown(d, TOP_FIELDS, "")
    year = _integer(d, "year", "", lo=2000, hi=2100)
    top = d.get("top_kpi", "net_revenue")
    if not isinstance(top, str):
        raise PlanError(f"top_kpi: must be a node id, got {top!r}")
    target = _parse_target(d.get("target"))
    nb_raw = d.get("new_business")
    if isinstance(nb_raw, int | float) and not isinstance(nb_raw, bool):
        nb_raw = {"amount": nb_raw}
    nb = _mapping(nb_raw, "new_business")
    _unknown(nb, ("amount", "from_month"), "new_business")
    new_business = NewBusiness(
        _number(nb, "amount", "new_business", default=0.0, lo=0),
        _integer(nb, "from_month", "new_business", default=1, lo=1, hi=12),
    )
    if target.annual is not None and new_business.amount > target.annual:
        raise PlanError("new_business.amount: larger than target.annual")
    buffer = _number(d, "buffer", "", default=0.0, lo=0, hi=1)
    cap = None
    if d.get("year_end_cap") is not None:
        c = _mapping(d["year_end_cap"], "year_end_cap")
        _unknown(c, ("months", "max_share"), "year_end_cap")
        cap = YearEndCap(
            _integer(c, "months", "year_end_cap", lo=1, hi=11),
            _number(c, "max_share", "year_end_cap", lo=0, lo_open=True, hi=1),
        )
    profile, profile_year = _parse_profile(d.get("monthly_profile"))
    plan = Plan(
        year=year,
        top_kpi=top,
        target=target,
        new_business=new_business,
        buffer=buffer,
        year_end_cap=cap,
        monthly_profile=profile,
        profile_year=profile_year,
        calendar=_parse_calendar(d.get("calendar")),
        drivers=_parse_values(d.get("drivers"), "drivers"),
        shares=_parse_values(d.get("shares"), "shares", hi=1),
        allocations=_parse_allocations(d.get("allocations"), top),
        raw=d,
    )
    if tree is not None:
        check_plan_against_tree(plan, tree)
    return plan


def check_plan_against_tree(plan: Plan, tree: Any) -> None:
    nodes = tree.nodes
    top = nodes.get(plan.top_kpi)
    if top is None:
        raise PlanError(f"top_kpi: unknown node '{plan.top_kpi}'")
    if top.kind != "sum" or top.unit != "yuan":
        raise PlanError(f"top_kpi: '{plan.top_kpi}' must be an additive money KPI")
    for key in plan.drivers:
        if key not in nodes:
            raise PlanError(f"drivers.{key}: unknown node")
        if nodes[key].kind == "quantile" and plan.drivers[key] is None:
            raise PlanError(f"drivers.{key}: a percentile has no trailing default; give a value")
    sum_children = {k.id for _, rel, kids in tree.identities() if rel == "sum" for k in kids}
    for key in plan.shares:
        if key not in sum_children:
            raise PlanError(
                f"shares.{key}: not a part of a sum identity (parts: {sorted(sum_children)})"
            )
    for alloc in plan.allocations:
        node = nodes.get(alloc.kpi)
        if node is None:
            raise PlanError(f"allocations[{alloc.name}].kpi: unknown node '{alloc.kpi}'")
        if node.kind != "sum":
            raise PlanError(f"allocations[{alloc.name}].kpi: '{alloc.kpi}' is not additive")
        if alloc.dimension is not None and alloc.dimension not in node.dimensions:
            raise PlanError(
                f"allocations[{alloc.name}].dimension: '{alloc.kpi}' cannot be sliced by "
                f"'{alloc.dimension}' (its dimensions: {list(node.dimensions)})"
            )


def load_plan(path: Path | str = EXAMPLE_PLAN, tree: Any | None = None) -> Plan:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PlanError(f"{path}: not valid YAML: {err}") from err
    except OSError as err:
        raise PlanError(f"{path}: cannot read: {err}") from err
    try:
        return parse_plan(data or {}, tree)
    except PlanError as err:
        raise PlanError(f"{path}: {err}") from err


# ---- the year's target ------------------------------------------------------------------


@dataclass(frozen=True)
class AnnualTarget:
    """The year's target for the top KPI (yuan) and how it was reached."""

    value: float
    method: str
    forward: float | None = None
    backward: float | None = None
    basis_total: float | None = None  # the last full year's total (forward, growth)

    def explain(self) -> str:
        parts = [f"{self.method}: {self.value:,.2f}"]
        if self.forward is not None:
            parts.append(f"forward {self.forward:,.2f}")
        if self.backward is not None:
            parts.append(f"backward {self.backward:,.2f}")
        return "; ".join(parts)


def yearly_totals(history: Mapping[tuple[int, int], float]) -> dict[int, float]:
    """Totals of the years whose 12 months are all in the history ((year, month) -> value)."""
    years: dict[int, dict[int, float]] = {}
    for (year, month), value in history.items():
        years.setdefault(year, {})[month] = float(value)
    return {y: sum(ms.values()) for y, ms in sorted(years.items()) if len(ms) == 12}


def forward_target(
    spec: ForwardSpec, plan_year: int, history: Mapping[tuple[int, int], float]
) -> tuple[float, float]:
    """(target, last year's total) by growth, or by the linear trend of full years."""
    totals = yearly_totals(history)
    last = plan_year - 1
    if last not in totals:
        got = sorted({m for (y, m) in history if y == last})
        raise PlanError(
            f"target.forward: needs the 12 months of {last} in the history, got months {got}; "
            "give target.annual or method backward instead"
        )
    if spec.basis == "growth":
        return totals[last] * (1 + spec.growth), totals[last]
    years = [y for y in range(plan_year - spec.years, plan_year)]
    missing = [y for y in years if y not in totals]
    if missing:
        raise PlanError(f"target.forward.years: full history missing for {missing}")
    xs = [float(y) for y in years]
    ys = [totals[y] for y in years]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    trend = my + slope * (plan_year - mx)
    if trend <= 0:
        raise PlanError(f"target.forward: the trend of {years} is not positive ({trend:,.2f})")
    return trend * (1 + spec.growth), totals[last]


def annual_target(
    plan: Plan, history: Mapping[tuple[int, int], float] | None = None
) -> AnnualTarget:
    """The year's target for the top KPI (yuan).

    combined: ``max`` (the default: the more demanding of what the trend promises and what
    the required result needs), ``min``, or ``blend`` = w × forward + (1 − w) × backward.
    """
    t = plan.target
    if t.annual is not None:
        return AnnualTarget(t.annual, "annual")
    fwd = basis = bwd = None
    if t.forward is not None:
        fwd, basis = forward_target(t.forward, plan.year, history or {})
    if t.backward is not None:
        bwd = t.backward.revenue()
    if fwd is not None and bwd is not None:
        if t.combine == "max":
            value = max(fwd, bwd)
        elif t.combine == "min":
            value = min(fwd, bwd)
        else:
            value = t.forward_weight * fwd + (1 - t.forward_weight) * bwd
    elif fwd is not None:
        value = fwd
    elif bwd is not None:
        value = bwd
    else:  # pragma: no cover - parse_plan guarantees a method
        raise PlanError("target: no method")
    if plan.new_business.amount > value:
        raise PlanError(
            f"new_business.amount: {plan.new_business.amount:,.2f} exceeds the year's target "
            f"{value:,.2f}"
        )
    return AnnualTarget(value, t.method, fwd, bwd, basis)
