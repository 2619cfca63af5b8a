"""The plan file: what the year's target is and how to split it (see ``plans/example_2026.yaml``).

The file is read into pydantic models (:class:`PlanFile` and its sections; their JSON schema,
for editors, is ``schemas/plan.schema.json``), which refuse unknown keys and values that
cannot be right; ``load_plan`` and ``parse_plan`` turn what they refuse into a
:class:`PlanError` that names the file and the key's place (``target.backward.gross_margin:
...``) and return the plan as the plain frozen dataclasses the planning code uses.
``annual_target`` computes the year's target for the top KPI from the plan and the monthly
history the caller passes in (forward 正推, backward 倒推 "以终定始", or combined 结合).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from kpi_tree.config import (
    ConfigModel,
    Flag,
    Integer,
    Number,
    Text,
    blank,
    describe,
    problem,
    report,
)
from kpi_tree.targets.calendar import WEEKDAYS, CalendarSpec, FestivalSpec

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
    #: last year's total as the plan states it, for a shop whose history the warehouse does not
    #: hold (forward methods); with its 12 months when the plan gives them (the year's shape too)
    last_year: float | None = None
    last_year_months: tuple[float, ...] | None = None
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


# ---- the plan file, as pydantic models (their JSON schema: schemas/plan.schema.json) -------

Share = Annotated[Number, Field(ge=0, le=1)]
NonNegative = Annotated[Number, Field(ge=0)]
Year = Annotated[Integer, Field(ge=2000, le=2100)]
SplitBy = Literal["weights", "scores"]


def _shorthand(key: str, section: Any) -> BeforeValidator:
    """A section may be written as the number (or list) it mostly holds: ``target: 40_000_000``
    is ``target: {annual: 40_000_000}``. A blank section (``drivers:`` with nothing under it)
    is an empty one."""

    def expand(value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, int | float | list) and not isinstance(value, bool):
            return {key: value}
        return value

    return BeforeValidator(expand, json_schema_input_type=section)


def _no_slash(value: str) -> str:
    if "/" in value:
        raise ValueError("must be a name without '/' (it separates the levels of a split)")
    return value


def _month_day(value: str) -> str:
    try:
        month, day = (int(x) for x in value.split("-"))
        dt.date(2024, month, day)  # a leap year, so 02-29 is allowed
    except ValueError:
        raise ValueError("the key must be a day MM-DD, e.g. '11-11'") from None
    return value


MonthDay = Annotated[
    str,
    Strict(),
    AfterValidator(_month_day),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}-\d{2}$"}),
]


class ForwardFile(ConfigModel):
    """正推法: last year's total × (1 + growth), or the linear trend of the last ``years`` full
    years × (1 + growth)."""

    basis: Literal["growth", "trend"] = "growth"
    growth: Annotated[Number, Field(gt=-1)] | None = Field(
        None, description="0.25 is +25 %; required with basis growth, 0 by default with trend"
    )
    years: Annotated[Integer, Field(ge=2, le=20)] = Field(
        3, description="trend: the full years the trend is drawn through"
    )

    @model_validator(mode="after")
    def _growth_for_growth(self) -> ForwardFile:
        if self.basis == "growth" and self.growth is None:
            raise problem("growth", "is required when basis is growth (e.g. 0.25 for +25 %)")
        return self

    def spec(self) -> ForwardSpec:
        return ForwardSpec(self.basis, self.growth or 0.0, self.years)


class BackwardFile(ConfigModel):
    """倒推法 (以终定始): the revenue R such that
    R × gross_margin − R × variable_cost_rate − fixed_costs = net_profit."""

    net_profit: Number = Field(description="the year's required net profit, in the shop's currency")
    gross_margin: Annotated[Number, Field(gt=0, le=1)] = Field(description="e.g. 0.40")
    fixed_costs: NonNegative = Field(
        0.0, description="the year's fixed costs, in the shop's currency"
    )
    variable_cost_rate: Share = Field(0.0, description="costs per unit of revenue, e.g. 0.15")

    @model_validator(mode="after")
    def _reachable(self) -> BackwardFile:
        if self.gross_margin <= self.variable_cost_rate:
            raise problem(
                "gross_margin",
                "must exceed variable_cost_rate, or no revenue can earn the net profit",
            )
        if self.net_profit + self.fixed_costs <= 0:
            raise problem("net_profit", "net_profit + fixed_costs must be > 0")
        return self

    def spec(self) -> BackwardSpec:
        return BackwardSpec(
            self.net_profit, self.gross_margin, self.fixed_costs, self.variable_cost_rate
        )


class TargetFile(ConfigModel):
    """The year's target for the top KPI: a number (method annual), or a method."""

    method: Literal["annual", "forward", "backward", "combined"] = "annual"
    annual: Annotated[Number, Field(gt=0)] | None = Field(
        None, description="method annual: the year's target, in the shop's currency"
    )
    forward: ForwardFile | None = None
    backward: BackwardFile | None = None
    combine: Literal["max", "min", "blend"] = Field(
        "max", description="combined: the more demanding (max), min, or a blend"
    )
    forward_weight: Share = Field(
        0.5, description="blend: forward_weight × forward + (1 − forward_weight) × backward"
    )

    @model_validator(mode="after")
    def _one_method(self) -> TargetFile:
        method = self.method
        if method == "annual" and self.annual is None:
            raise problem(
                "annual",
                "is required when target.method is annual (the default): give the year's "
                "number, or a method (forward, backward, combined)",
            )
        if method != "annual" and self.annual is not None:
            raise problem("annual", f"give either an annual number or method {method}, not both")
        for key in ("forward", "backward"):
            needed, given = method in (key, "combined"), getattr(self, key) is not None
            if needed and not given:
                raise problem(key, f"is required when target.method is {method}")
            if given and not needed:
                raise problem(
                    key, f"is used only with method {key} or combined: remove it or set method"
                )
        extra = sorted({"combine", "forward_weight"} & self.model_fields_set)
        if method != "combined" and extra:
            raise problem(extra[0], "is used only with target.method combined: remove it")
        return self

    def spec(self) -> TargetSpec:
        return TargetSpec(
            self.method,
            self.annual,
            self.forward.spec() if self.forward else None,
            self.backward.spec() if self.backward else None,
            self.combine,
            self.forward_weight,
        )


class NewBusinessFile(ConfigModel):
    """New business carved out of the year and kept as upside."""

    amount: NonNegative = Field(0.0, description="in the shop's currency")
    from_month: Annotated[Integer, Field(ge=1, le=12)] = Field(
        1, description="the upside is tracked from this month on"
    )


class YearEndCapFile(ConfigModel):
    """At most ``max_share`` of the months' total in the last ``months`` months."""

    months: Annotated[Integer, Field(ge=1, le=11)]
    max_share: Annotated[Number, Field(gt=0, le=1)]


class ProfileFile(ConfigModel):
    """The monthly shape used when the history has no full last year (a new shop)."""

    weights: Annotated[tuple[NonNegative, ...], Field(min_length=12, max_length=12)] = Field(
        description="12 weights, January first"
    )
    reference_year: Year | None = Field(
        None, description="the year the shape was observed in (its calendar is moved to the plan's)"
    )

    @model_validator(mode="after")
    def _some_weight(self) -> ProfileFile:
        if not any(self.weights):
            raise problem("weights", "are all zero: give the shape of a year")
        return self


def _last_year(value: Any) -> Any:
    if isinstance(value, list) and len(value) != 12:
        raise ValueError(
            f"give the year's total, or its 12 months (January first), got {len(value)}"
        )
    return value


LastYear = Annotated[
    Annotated[Number, Field(gt=0)] | tuple[NonNegative, ...],
    BeforeValidator(_last_year, json_schema_input_type=Number | list[Number]),
]


class WeekdayFile(ConfigModel):
    """A weight per weekday (1.0 when not given)."""

    mon: NonNegative = 1.0
    tue: NonNegative = 1.0
    wed: NonNegative = 1.0
    thu: NonNegative = 1.0
    fri: NonNegative = 1.0
    sat: NonNegative = 1.0
    sun: NonNegative = 1.0

    @model_validator(mode="after")
    def _some_weight(self) -> WeekdayFile:
        if not any(getattr(self, day) for day in WEEKDAYS):
            raise ValueError("the weights are all zero")
        return self


def _weekday_list(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, list):
        if len(value) != 7:
            raise ValueError(
                f"a list of 7 weights (Monday first) or a mapping mon..sun, got {len(value)}"
            )
        return dict(zip(WEEKDAYS, value, strict=True))
    return value


def _no_festival(value: Any) -> Any:
    return None if value is False else value


class FestivalFile(ConfigModel):
    """The Spring Festival trough around the lunar new year's day."""

    days_before: Annotated[Integer, Field(ge=0, le=30)] = 7
    days_after: Annotated[Integer, Field(ge=0, le=30)] = 7
    factor: NonNegative = 0.5


class CalendarFile(ConfigModel):
    """How the days of the year are weighted."""

    weekday_profile: Annotated[
        WeekdayFile,
        BeforeValidator(_weekday_list, json_schema_input_type=WeekdayFile | list[Number] | None),
    ] = WeekdayFile()
    holiday_factor: NonNegative = Field(
        1.0, description="public holidays (holidays.China) other than the festival"
    )
    festival: Annotated[
        FestivalFile | None,
        BeforeValidator(_no_festival, json_schema_input_type=FestivalFile | Literal[False] | None),
    ] = Field(FestivalFile(), description="null or false: no festival trough")
    special_days: Annotated[dict[MonthDay, NonNegative], blank({}, dict[MonthDay, Number])] = Field(
        {}, description="MM-DD -> the day's weight within its month, e.g. '11-11': 3.0"
    )
    reshape_history: Flag = Field(
        True, description="move last year's monthly shape onto this year's calendar"
    )

    def spec(self) -> CalendarSpec:
        return CalendarSpec(
            tuple(getattr(self.weekday_profile, day) for day in WEEKDAYS),
            self.holiday_factor,
            FestivalSpec(self.festival.days_before, self.festival.days_after, self.festival.factor)
            if self.festival
            else None,
            {tuple(int(x) for x in key.split("-")): v for key, v in self.special_days.items()},
            self.reshape_history,
        )


class UnitFile(ConfigModel):
    """One unit of a split (a region, a team, a person) and, optionally, its own units."""

    id: Annotated[Text, AfterValidator(_no_slash)]
    weight: NonNegative | None = Field(
        None, description="its share, when its parent splits by weights"
    )
    score: NonNegative | None = Field(
        None, description="its ability score, when its parent splits by scores"
    )
    by: SplitBy = Field("weights", description="how its own units split it")
    uplift: NonNegative = Field(0.0, description="its units add up to (1 + uplift) × it")
    units: Annotated[tuple[UnitFile, ...], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _split(self) -> UnitFile:
        if self.units:
            _check_split(self.units, self.by)
        else:
            given = sorted({"by", "uplift"} & self.model_fields_set)
            if given:
                raise problem(given[0], "needs units to split over: add them, or remove it")
        return self

    def unit(self) -> OrgUnit:
        share = self.weight if self.weight is not None else self.score
        assert share is not None  # _check_split of its parent
        children = tuple(u.unit() for u in self.units or ())
        return OrgUnit(self.id, share, self.by, self.uplift, children)


def _check_split(units: tuple[UnitFile, ...], by: str) -> None:
    key, other = ("weight", "score") if by == "weights" else ("score", "weight")
    seen: set[str] = set()
    for i, unit in enumerate(units):
        if unit.id in seen:
            raise problem(("units", i, "id"), f"duplicate id '{unit.id}': give each unit its own")
        seen.add(unit.id)
        if getattr(unit, other) is not None:
            raise problem(("units", i, other), f"its parent splits by {by}, so give '{key}'")
        if getattr(unit, key) is None:
            raise problem(("units", i, key), f"is required: its parent splits by {by}")
    total = sum(getattr(u, key) for u in units)
    if total <= 0:
        raise problem("units", f"the {by} add up to zero")
    if by == "weights" and abs(total - 1) > 1e-9:
        raise problem("units", f"weights must add up to 1, got {total:g} (or use by: scores)")


class AllocationFile(ConfigModel):
    """One split of a KPI's target over the organisation (regions -> teams -> people)."""

    name: Text
    kpi: Text | None = Field(
        None, description="the KPI split (an additive node); the top KPI by default"
    )
    by: SplitBy = "weights"
    uplift: NonNegative = Field(0.0, description="the units add up to (1 + uplift) × the KPI")
    dimension: Text | None = Field(
        None,
        description="the KPI's dimension whose members the units are (e.g. channel): their "
        "actuals come from the warehouse, so their targets are paced",
    )
    units: Annotated[tuple[UnitFile, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _split(self) -> AllocationFile:
        _check_split(self.units, self.by)
        return self

    def allocation(self, top_kpi: str) -> Allocation:
        units = tuple(u.unit() for u in self.units)
        return Allocation(
            self.name, self.kpi or top_kpi, self.by, self.uplift, units, self.dimension
        )


class PlanFile(ConfigModel):
    """A target plan: the year's target for the top KPI and how to split it over months, days,
    the KPI tree and the organisation (kpi_tree/plans/example_2026.yaml uses every key)."""

    name: Text | None = None
    description: str | None = None
    year: Year = Field(description="the plan's year, e.g. 2026")
    top_kpi: Text = Field(
        "net_revenue", description="the additive money KPI the year's target is set on"
    )
    target: Annotated[TargetFile, _shorthand("annual", Number | TargetFile)] = Field(
        description="the year's target: a number, or a method (forward, backward, combined)"
    )
    new_business: Annotated[NewBusinessFile, _shorthand("amount", Number | NewBusinessFile)] = (
        NewBusinessFile()
    )
    buffer: Share = Field(0.0, description="the months add up to (1 + buffer) × the year")
    year_end_cap: YearEndCapFile | None = None
    monthly_profile: Annotated[
        ProfileFile | None,
        BeforeValidator(
            lambda v: {"weights": v} if isinstance(v, list) else v,
            json_schema_input_type=ProfileFile | list[Number] | None,
        ),
    ] = None
    last_year: LastYear | None = Field(
        None,
        description="last year's figure of the top KPI, for a shop whose history the warehouse "
        "does not hold: the total, or its 12 months (January first; they shape the year too). "
        "Used by forward methods when the warehouse has no full last year",
    )
    calendar: Annotated[CalendarFile, blank({}, CalendarFile)] = CalendarFile()
    drivers: Annotated[dict[Text, NonNegative | None], blank({}, dict[str, Number | None])] = Field(
        {}, description="planned values of tree nodes; null: the trailing history"
    )
    shares: Annotated[dict[Text, Share | None], blank({}, dict[str, Number | None])] = Field(
        {}, description="a part of a sum identity -> its share of the parent; null: trailing"
    )
    allocations: Annotated[tuple[AllocationFile, ...], blank((), list[AllocationFile])] = ()

    @model_validator(mode="after")
    def _consistent(self) -> PlanFile:
        names: set[str] = set()
        for i, alloc in enumerate(self.allocations):
            if alloc.name in names:
                raise problem(("allocations", i, "name"), f"duplicate name '{alloc.name}'")
            names.add(alloc.name)
        if isinstance(self.last_year, tuple) and not any(self.last_year):
            raise problem("last_year", "the 12 months are all zero: give last year's figures")
        annual = self.target.annual
        if annual is not None and self.new_business.amount > annual:
            raise problem(
                ("new_business", "amount"),
                "larger than target.annual: the new business is part of the year's target",
            )
        return self

    def plan(self, raw: Mapping[str, Any]) -> Plan:
        profile = self.monthly_profile
        months = self.last_year if isinstance(self.last_year, tuple) else None
        last_total = float(sum(months)) if months is not None else self.last_year
        return Plan(
            year=self.year,
            top_kpi=self.top_kpi,
            target=self.target.spec(),
            new_business=NewBusiness(self.new_business.amount, self.new_business.from_month),
            buffer=self.buffer,
            year_end_cap=YearEndCap(self.year_end_cap.months, self.year_end_cap.max_share)
            if self.year_end_cap
            else None,
            monthly_profile=profile.weights if profile else None,
            profile_year=profile.reference_year if profile else None,
            last_year=last_total,
            last_year_months=tuple(float(m) for m in months) if months is not None else None,
            calendar=self.calendar.spec(),
            drivers=dict(self.drivers),
            shares=dict(self.shares),
            allocations=tuple(a.allocation(self.top_kpi) for a in self.allocations),
            raw=raw,
        )


def parse_plan(data: Any, tree: Any | None = None, *, source: str | None = None) -> Plan:
    """Check a plan mapping. With ``tree`` (a :class:`kpi_tree.model.Tree`), node ids are checked
    too: the top KPI, every driver, share and allocated KPI must be a node of the tree.
    ``source`` (the file) prefixes each line of a :class:`PlanError`."""
    try:
        model = PlanFile.model_validate(data)
    except ValidationError as err:
        # `from None`: pydantic's own error would print the values it was given
        raise PlanError(report(source, describe(PlanFile, err))) from None
    plan = model.plan(raw=dict(data))
    if tree is not None:
        try:
            check_plan_against_tree(plan, tree)
        except PlanError as err:
            raise PlanError(report(source, [str(err)])) from None
    return plan


def check_plan_against_tree(plan: Plan, tree: Any) -> None:
    nodes = tree.nodes
    top = nodes.get(plan.top_kpi)
    if top is None:
        raise PlanError(f"top_kpi: unknown node '{plan.top_kpi}'")
    if top.kind != "sum" or top.unit != "money":
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
    for i, alloc in enumerate(plan.allocations):
        node = nodes.get(alloc.kpi)
        where = f"allocations[{i}]"
        if node is None:
            raise PlanError(f"{where}.kpi: unknown node '{alloc.kpi}' ({alloc.name})")
        if node.kind != "sum":
            raise PlanError(f"{where}.kpi: '{alloc.kpi}' is not additive ({alloc.name})")
        if alloc.dimension is not None and alloc.dimension not in node.dimensions:
            raise PlanError(
                f"{where}.dimension: '{alloc.kpi}' cannot be sliced by "
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
    return parse_plan({} if data is None else data, tree, source=str(path))


# ---- the year's target ------------------------------------------------------------------


@dataclass(frozen=True)
class AnnualTarget:
    """The year's target for the top KPI (in the shop's currency) and how it was reached."""

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


def with_stated_year(
    plan: Plan, history: Mapping[tuple[int, int], float] | None
) -> tuple[dict[tuple[int, int], float], str | None]:
    """The history with last year's 12 months as the plan states them, when the warehouse has
    no full last year (a shop new to the warehouse), and where last year came from:
    ``"warehouse"``, ``"plan"`` (months, or only the total), or None (neither)."""
    merged = dict(history or {})
    last = plan.year - 1
    if last in yearly_totals(merged):
        return merged, "warehouse"
    if plan.last_year_months is not None:
        merged.update({(last, m): v for m, v in enumerate(plan.last_year_months, start=1)})
        return merged, "plan"
    return merged, "plan" if plan.last_year is not None else None


def forward_target(
    spec: ForwardSpec,
    plan_year: int,
    history: Mapping[tuple[int, int], float],
    last_year: float | None = None,
) -> tuple[float, float]:
    """(target, last year's total) by growth, or by the linear trend of full years.
    ``last_year``: the total the plan states, used when the history has no full last year."""
    totals = yearly_totals(history)
    last = plan_year - 1
    if last not in totals and last_year is not None:
        totals[last] = float(last_year)
    if last not in totals:
        got = sorted({m for (y, m) in history if y == last})
        raise PlanError(
            f"target.forward: needs the 12 months of {last} in the history, got months {got}; "
            "state last year's figure in the plan (last_year), or give target.annual or method "
            "backward instead"
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
    """The year's target for the top KPI (in the shop's currency).

    combined: ``max`` (the default: the more demanding of what the trend promises and what
    the required result needs), ``min``, or ``blend`` = w × forward + (1 − w) × backward.
    """
    t = plan.target
    if t.annual is not None:
        return AnnualTarget(t.annual, "annual")
    fwd = basis = bwd = None
    if t.forward is not None:
        stated, _ = with_stated_year(plan, history)
        fwd, basis = forward_target(t.forward, plan.year, stated, plan.last_year)
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
