"""Read and check the KPI tree (``kpi_tree/tree.yaml``).

The loader refuses a tree that cannot be right, with an error naming the node: an unknown
measure, fact, team, dimension or source; a fact made of no source; a cycle; a node without
an owner; an identity whose children cannot produce the parent (checked symbolically: a
product's children must multiply back to the parent's formula, a sum's children must be the
declared parts of the parent's measure).

What each node reads is derived here too (:meth:`Tree.node_sources`): the sources of its
measures' facts and the measures' own ``needs``. A shop that has not delivered one of them
cannot compute the node (``kpi_tree/availability.py``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TREE_FILE = Path(__file__).with_name("tree.yaml")
RELATIONS = ("product", "sum", "driver")
DIRECTIONS = ("higher", "lower")
UNITS = ("money", "count", "ratio", "multiple", "seconds", "minutes", "days")
AGGS = ("count", "sum")


class TreeError(ValueError):
    """The tree definition is inconsistent; the message names the node or measure."""


@dataclass(frozen=True)
class Fact:
    id: str
    model: str
    date: str
    dimensions: dict[str, str]  # dimension -> column
    sources: tuple[str, ...] = ()  # the sources its rows are made of
    #: its rows keep changing for maturity_days after their date (shipment outcomes)
    matures: bool = False
    #: a fact that matures: the model of its mature cohorts' development (by age, kept by
    #: cohort: fct_completion_factors sums it into the completion pattern), and the row's key
    development: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Measure:
    id: str
    fact: str
    agg: str
    expr: str | None
    en: str
    zh: str
    parts: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()  # sources it reads beyond its fact's
    #: one of UNITS when declared; ``money`` marks an amount in the shop's currency, which
    #: the serving file publishes as DECIMAL(18, 2) (kpi_tree/money.py)
    unit: str | None = None
    #: a measure of a fact that matures: the measure of the same cohort, known from its first
    #: day (GMV, orders), its completion is read against
    exposure: str | None = None

    @property
    def sql(self) -> str:
        """The per-row SQL expression that is aggregated (``1`` for a count)."""
        return "1" if self.agg == "count" else str(self.expr)


@dataclass(frozen=True)
class Node:
    id: str
    en: str
    zh: str
    unit: str
    team: str
    direction: str
    kind: str  # sum | ratio | quantile
    numerator: str | None  # a measure (sum and ratio)
    denominator: str | None  # a measure (ratio)
    scale: float
    quantile: float | None
    quantile_of: str | None  # a fact column (quantile)
    quantile_fact: str | None
    dimensions: tuple[str, ...]
    parent: str | None
    relation: str | None

    @property
    def measures(self) -> tuple[str, ...]:
        return tuple(m for m in (self.numerator, self.denominator) if m)

    def monomial(self) -> tuple[Fraction, Counter]:
        """The formula as scale × Π measure^power (sum and ratio nodes)."""
        powers: Counter = Counter()
        if self.numerator:
            powers[self.numerator] += 1
        if self.denominator:
            powers[self.denominator] -= 1
        return Fraction(self.scale).limit_denominator(10**6), powers


@dataclass(frozen=True)
class Tree:
    teams: dict[str, dict[str, str]]
    facts: dict[str, Fact]
    measures: dict[str, Measure]
    nodes: dict[str, Node]
    maturity_days: int
    cohort_rules: str
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)
    #: source id -> how a reason names it ({en, zh}), in the order the tree lists them
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    #: the mature cohorts the completion pattern is drawn from: the newest ``basis_days``
    basis_days: int = 91
    #: a member whose mature cohorts hold fewer rows of the fact takes the total's pattern
    min_member_rows: int = 300
    #: cohorts ordered from this many days before the Spring Festival to this many after it
    #: develop late (carriers close): they are left out of the pattern; None keeps them
    festival_excluded: tuple[int, int] | None = (7, 8)

    def excluded_cohorts(self, years: range) -> list[tuple[dt.date, dt.date]]:
        """The cohort days the completion pattern leaves out, per year: the Spring Festival's
        window (docs/kpi-tree.md, "Outcomes that arrive late")."""
        if self.festival_excluded is None:
            return []
        # imported here: kpi_tree.targets imports this module
        from kpi_tree.targets.calendar import spring_festival

        before, after = self.festival_excluded
        return [
            (day - dt.timedelta(days=before), day + dt.timedelta(days=after))
            for day in map(spring_festival, years)
        ]

    @property
    def root(self) -> Node:
        return next(n for n in self.nodes.values() if n.parent is None)

    def children(self, node_id: str, relation: str | None = None) -> list[Node]:
        return [
            n
            for n in self.nodes.values()
            if n.parent == node_id and (relation is None or n.relation == relation)
        ]

    def depth_first(self) -> list[tuple[int, Node]]:
        out: list[tuple[int, Node]] = []

        def walk(node: Node, depth: int) -> None:
            out.append((depth, node))
            for child in self.children(node.id):
                walk(child, depth + 1)

        walk(self.root, 0)
        return out

    def node_facts(self, node: Node) -> set[str]:
        if node.kind == "quantile":
            return {str(node.quantile_fact)}
        return {self.measures[m].fact for m in node.measures}

    def measure_sources(self, measure_id: str) -> tuple[str, ...]:
        """The sources a measure reads: its fact's and its own ``needs``, in the tree's
        order of sources."""
        measure = self.measures[measure_id]
        wanted = {*self.facts[measure.fact].sources, *measure.needs}
        return tuple(s for s in self.sources if s in wanted)

    def node_sources(self, node: Node) -> tuple[str, ...]:
        """The sources a node reads (its measures', or its quantile fact's), in the tree's
        order of sources: a shop must deliver every one of them to compute it."""
        wanted: set[str] = set()
        if node.kind == "quantile":
            wanted.update(self.facts[str(node.quantile_fact)].sources)
        for m in node.measures:
            wanted.update(self.measure_sources(m))
        return tuple(s for s in self.sources if s in wanted)

    def node_matures(self, node: Node) -> bool:
        """Whether the node reads a fact whose rows keep changing for ``maturity_days``
        (sign-off, refusals, returns, refunds): its young days are not final yet."""
        return any(self.facts[f].matures for f in self.node_facts(node))

    def identities(self) -> list[tuple[Node, str, list[Node]]]:
        """(parent, relation, children) for every exact identity in the tree."""
        out = []
        for node in self.nodes.values():
            for relation in ("product", "sum"):
                kids = self.children(node.id, relation)
                if kids:
                    out.append((node, relation, kids))
        return out


def _need(mapping: dict, key: str, where: str) -> Any:
    if key not in mapping or mapping[key] in (None, ""):
        raise TreeError(f"{where}: '{key}' is required")
    return mapping[key]


def _parse_formula(node_id: str, formula: Any) -> dict[str, Any]:
    where = f"node '{node_id}'"
    if not isinstance(formula, dict):
        raise TreeError(f"{where}: formula must be a mapping, got {formula!r}")
    if "sum" in formula:
        return {
            "kind": "sum",
            "numerator": formula["sum"],
            "denominator": None,
            "scale": float(formula.get("scale", 1)),
        }
    if "ratio" in formula:
        parts = formula["ratio"]
        if not (isinstance(parts, list) and len(parts) == 2):
            raise TreeError(f"{where}: ratio takes [numerator, denominator], got {parts!r}")
        return {
            "kind": "ratio",
            "numerator": parts[0],
            "denominator": parts[1],
            "scale": float(formula.get("scale", 1)),
        }
    if "quantile" in formula:
        q = float(formula["quantile"])
        if not 0 < q < 1:
            raise TreeError(f"{where}: quantile must be between 0 and 1, got {q}")
        return {
            "kind": "quantile",
            "numerator": None,
            "denominator": None,
            "scale": 1.0,
            "quantile": q,
            "quantile_of": _need(formula, "of", where),
            "quantile_fact": _need(formula, "fact", where),
        }
    raise TreeError(f"{where}: formula must be one of sum, ratio, quantile; got {formula!r}")


def _check_team_board(tid: str, team: dict[str, Any], nodes: dict[str, Node]) -> None:
    """A team's scorecard names its own KPIs with positive weights; its people dimension is
    a dimension of at least one of its KPIs."""
    where = f"team '{tid}'"
    scorecard = team.get("scorecard") or {}
    if not isinstance(scorecard, dict):
        raise TreeError(f"{where}: scorecard must map KPI ids to weights, got {scorecard!r}")
    for kpi, weight in scorecard.items():
        if kpi not in nodes:
            raise TreeError(f"{where}: scorecard names unknown KPI '{kpi}'")
        if nodes[kpi].team != tid:
            raise TreeError(
                f"{where}: scorecard KPI '{kpi}' is owned by '{nodes[kpi].team}', not this team"
            )
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise TreeError(f"{where}: scorecard weight of '{kpi}' must be > 0, got {weight!r}")
    people = team.get("people")
    if people is not None and not any(
        people in n.dimensions for n in nodes.values() if n.team == tid
    ):
        raise TreeError(f"{where}: people dimension '{people}' is not a dimension of its KPIs")


def _source_list(value: Any, where: str, sources: dict[str, Any], key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise TreeError(f"{where}: '{key}' must be a list of source ids, got {value!r}")
    for s in value:
        if s not in sources:
            raise TreeError(f"{where}: unknown source '{s}' (sources: {sorted(sources)})")
    return tuple(value)


def _flag(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise TreeError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _check_exposure(m: Measure, measures: dict[str, Measure], facts: dict[str, Fact]) -> None:
    where = f"measure '{m.id}'"
    if facts[m.fact].matures and m.exposure is None:
        raise TreeError(
            f"{where}: its fact '{m.fact}' matures, so it needs an exposure (the measure of the "
            "cohort known from its first day its completion is read against, e.g. gmv or orders)"
        )
    if m.exposure is None:
        return
    exposure = measures.get(m.exposure)
    if exposure is None:
        raise TreeError(f"{where}: unknown exposure '{m.exposure}'")
    if not facts[m.fact].matures:
        raise TreeError(f"{where}: an exposure is only for a measure of a fact that matures")
    if facts[exposure.fact].matures:
        raise TreeError(
            f"{where}: its exposure '{m.exposure}' matures itself; choose a measure known from "
            "the cohort's first day"
        )


def _development(fact: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    """(development model, key) of a fact that matures; (None, None) for one that does not."""
    development = fact.get("development")
    if not fact.get("matures"):
        if development is not None:
            raise TreeError(f"{where}: 'development' is only for a fact that matures")
        return None, None
    if not (isinstance(development, dict) and development.get("model") and development.get("key")):
        raise TreeError(
            f"{where}: a fact that matures needs its development, the model of its mature "
            "cohorts' development by age and the row's key, e.g. "
            f"{{model: int_shipment_development, key: shipment_id}}; got {development!r}"
        )
    return str(development["model"]), str(development["key"])


def _festival_excluded(spec: Any, where: str) -> tuple[int, int] | None:
    """(days before, days after) the Spring Festival whose cohorts the pattern leaves out."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"days_before", "days_after"}:
        raise TreeError(
            f"{where}.exclude_festival: expected {{days_before: N, days_after: N}} or null "
            f"(keep every cohort); got {spec!r}"
        )
    before, after = spec.get("days_before", 7), spec.get("days_after", 8)
    if not all(isinstance(n, int) and 0 <= n <= 60 for n in (before, after)):
        raise TreeError(
            f"{where}.exclude_festival: days_before and days_after are whole days from 0 to 60; "
            f"got {spec!r}"
        )
    return before, after


def parse_tree(data: dict[str, Any]) -> Tree:
    teams = data.get("teams") or {}
    sources = {}
    for sid, s in (data.get("sources") or {}).items():
        where = f"source '{sid}'"
        if not isinstance(s, dict):
            raise TreeError(f"{where}: give its names as {{en: ..., zh: ...}}, got {s!r}")
        sources[sid] = {"en": str(_need(s, "en", where)), "zh": str(_need(s, "zh", where))}
    facts = {}
    for fid, f in (data.get("facts") or {}).items():
        where = f"fact '{fid}'"
        fact_sources = _source_list(f.get("sources"), where, sources, "sources")
        if not fact_sources:
            raise TreeError(f"{where}: 'sources' is required (the sources its rows are made of)")
        facts[fid] = Fact(
            fid,
            _need(f, "model", where),
            _need(f, "date", where),
            dict(f.get("dimensions") or {}),
            fact_sources,
            _flag(f.get("matures", False), where, "matures"),
            *_development(f, where),
        )
    measures = {}
    for mid, m in (data.get("measures") or {}).items():
        where = f"measure '{mid}'"
        fact, agg = _need(m, "fact", where), _need(m, "agg", where)
        if fact not in facts:
            raise TreeError(f"{where}: unknown fact '{fact}' (facts: {sorted(facts)})")
        if agg not in AGGS:
            raise TreeError(f"{where}: agg must be one of {AGGS}, got '{agg}'")
        if agg == "sum" and not m.get("expr"):
            raise TreeError(f"{where}: a sum needs an expr")
        if m.get("unit") is not None and m["unit"] not in UNITS:
            raise TreeError(f"{where}: unit must be one of {UNITS}, got '{m['unit']}'")
        measures[mid] = Measure(
            mid,
            fact,
            agg,
            m.get("expr"),
            m.get("en", mid),
            m.get("zh", mid),
            tuple(m.get("parts") or ()),
            _source_list(m.get("needs"), where, sources, "needs"),
            m.get("unit"),
            m.get("exposure"),
        )
    for m in measures.values():
        for part in m.parts:
            if part not in measures:
                raise TreeError(f"measure '{m.id}': unknown part '{part}'")
        _check_exposure(m, measures, facts)
    nodes = {}
    for nid, n in (data.get("nodes") or {}).items():
        where = f"node '{nid}'"
        team = n.get("team")
        if not team:
            raise TreeError(f"{where}: has no owner (team)")
        if team not in teams:
            raise TreeError(f"{where}: unknown team '{team}' (teams: {sorted(teams)})")
        unit, direction = _need(n, "unit", where), _need(n, "direction", where)
        if unit not in UNITS:
            raise TreeError(f"{where}: unit must be one of {UNITS}, got '{unit}'")
        if direction not in DIRECTIONS:
            raise TreeError(f"{where}: direction must be higher or lower, got '{direction}'")
        f = _parse_formula(nid, _need(n, "formula", where))
        for key in ("numerator", "denominator"):
            if f.get(key) and f[key] not in measures:
                raise TreeError(f"{where}: unknown measure '{f[key]}'")
        relation = n.get("relation")
        if n.get("parent") and relation not in RELATIONS:
            raise TreeError(f"{where}: relation must be one of {RELATIONS}, got {relation!r}")
        nodes[nid] = Node(
            id=nid,
            en=_need(n, "en", where),
            zh=_need(n, "zh", where),
            unit=unit,
            team=team,
            direction=direction,
            kind=f["kind"],
            numerator=f.get("numerator"),
            denominator=f.get("denominator"),
            scale=f["scale"],
            quantile=f.get("quantile"),
            quantile_of=f.get("quantile_of"),
            quantile_fact=f.get("quantile_fact"),
            dimensions=tuple(n.get("dimensions") or ()),
            parent=n.get("parent"),
            relation=relation if n.get("parent") else None,
        )
    for tid, team in teams.items():
        if not isinstance(team, dict) or not team.get("mart"):
            raise TreeError(f"team '{tid}': 'mart' (its schema and publication unit) is required")
        _check_team_board(tid, team, nodes)
    business = data.get("business") or {}
    completion = business.get("completion") or {}
    tree = Tree(
        teams,
        facts,
        measures,
        nodes,
        int(business.get("maturity_days", 14)),
        str(business.get("cohort_rules", "")),
        data,
        sources,
        int(completion.get("basis_days", 91)),
        int(completion.get("min_member_rows", 300)),
        _festival_excluded(completion.get("exclude_festival", {}), "business.completion"),
    )
    check_tree(tree)
    return tree


def check_tree(tree: Tree) -> None:
    nodes = tree.nodes
    roots = [n.id for n in nodes.values() if n.parent is None]
    if len(roots) != 1:
        raise TreeError(f"the tree needs exactly one root (a node without parent), found {roots}")
    for node in nodes.values():
        if node.parent and node.parent not in nodes:
            raise TreeError(f"node '{node.id}': unknown parent '{node.parent}'")
        if node.kind == "quantile":
            if node.quantile_fact not in tree.facts:
                raise TreeError(f"node '{node.id}': unknown fact '{node.quantile_fact}'")
            if node.relation in ("product", "sum"):
                raise TreeError(f"node '{node.id}': a quantile cannot be part of an identity")
        for dim in node.dimensions:
            for fact in tree.node_facts(node):
                if dim not in tree.facts[fact].dimensions:
                    raise TreeError(
                        f"node '{node.id}': dimension '{dim}' is not a dimension of fact "
                        f"'{fact}' ({sorted(tree.facts[fact].dimensions)})"
                    )
    for node in nodes.values():  # money is money all the way down (kpi_tree/money.py)
        if node.kind == "quantile":
            continue
        numerator = tree.measures[str(node.numerator)]
        money_measure = numerator.unit == "money"
        if node.kind == "sum" and (node.unit == "money") != money_measure:
            raise TreeError(
                f"node '{node.id}': its unit is {node.unit} but its measure "
                f"'{numerator.id}' is {'money' if money_measure else 'not money'}: give both "
                "unit: money, or neither"
            )
        if node.kind == "ratio" and node.unit == "money" and not money_measure:
            raise TreeError(
                f"node '{node.id}': an amount of money per {node.denominator} needs a money "
                f"numerator: measure '{numerator.id}' has no unit: money"
            )
    for node in nodes.values():  # cycles
        seen, cur = {node.id}, node
        while cur.parent:
            if cur.parent in seen:
                raise TreeError(f"node '{node.id}': cycle through '{cur.parent}'")
            seen.add(cur.parent)
            cur = nodes[cur.parent]
    for parent, relation, kids in tree.identities():
        if parent.kind == "quantile":
            raise TreeError(f"node '{parent.id}': a quantile cannot be the parent of an identity")
        if relation == "product":
            scale, powers = Fraction(1), Counter()
            for kid in kids:
                s, p = kid.monomial()
                scale *= s
                powers.update(p)
                powers.subtract(Counter())  # keep negative counts
            powers = Counter({k: v for k, v in powers.items() if v})
            want_scale, want = parent.monomial()
            want = Counter({k: v for k, v in want.items() if v})
            if (scale, powers) != (want_scale, want):
                raise TreeError(
                    f"node '{parent.id}': its product children {[k.id for k in kids]} multiply "
                    f"to {_show(scale, powers)}, not to its formula {_show(want_scale, want)}"
                )
        else:
            if parent.kind != "sum" or any(k.kind != "sum" for k in kids):
                raise TreeError(f"node '{parent.id}': a sum identity needs sum nodes throughout")
            declared = set(tree.measures[str(parent.numerator)].parts)
            got = {str(k.numerator) for k in kids}
            if declared != got:
                raise TreeError(
                    f"node '{parent.id}': its sum children's measures {sorted(got)} are not the "
                    f"declared parts {sorted(declared)} of measure '{parent.numerator}'"
                )


def _show(scale: Fraction, powers: Counter) -> str:
    num = [m for m, p in sorted(powers.items()) for _ in range(p) if p > 0]
    den = [m for m, p in sorted(powers.items()) for _ in range(-p) if p < 0]
    text = " × ".join(num) or "1"
    if den:
        text += " / (" + " × ".join(den) + ")"
    return f"{scale} × {text}" if scale != 1 else text


def load_tree(path: Path | str = TREE_FILE) -> Tree:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise TreeError(f"{path}: not valid YAML: {err}") from err
    try:
        return parse_tree(data or {})
    except TreeError as err:
        raise TreeError(f"{path}: {err}") from err


@cache
def default_tree() -> Tree:
    return load_tree()
