"""Why a KPI is off its target: its gap attributed exactly to its children, then to members.

- Product identities (GMV = sessions × conversion × AOV): additive log-mean Divisia (LMDI-I),
  contribution_k = L(P1, P0) × ln(x_k1 / x_k0) with L(a, b) = (a − b) / (ln a − ln b), so the
  children's contributions add up to the parent's gap P1 − P0 exactly when the identity holds
  on both sides. Sum identities: contribution_k = x_k1 − x_k0.
  Whatever the identity leaves unexplained (a reference stitched from two plan versions) is
  reported as ``residual``, never hidden.
- Members (channel, campaign, agent, carrier): an additive KPI's member effects are their
  changes; a rate's are an exact two-factor shift-share with midpoint weights (rate effect +
  mix effect), adding up to the rate's change.

Pure functions: the caller passes the values (actual and reference, e.g. month to date vs the
paced target).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kpi_tree.model import Tree


class AttributionError(ValueError):
    """The values cannot be decomposed (missing or not positive)."""


@dataclass(frozen=True)
class Decomposition:
    parent: str
    relation: str  # product | sum
    actual: float  # the parent's actual (P1)
    reference: float  # the parent's reference (P0): the paced target, or a baseline
    contributions: dict[str, float]  # child -> its part of the gap, in the parent's unit
    residual: float  # gap − Σ contributions (0 when the identity holds on both sides)

    @property
    def gap(self) -> float:
        return self.actual - self.reference

    def points(self) -> dict[str, float]:
        """Each contribution in percentage points of the reference."""
        return {k: 100 * v / self.reference for k, v in self.contributions.items()}


def log_mean(a: float, b: float) -> float:
    if a <= 0 or b <= 0:
        raise AttributionError("the log mean needs positive values")
    if math.isclose(a, b, rel_tol=1e-15):
        return a
    return (a - b) / (math.log(a) - math.log(b))


def _identity(tree: Tree, parent: str) -> tuple[str, list[str]]:
    for p, relation, kids in tree.identities():
        if p.id == parent:
            return relation, [k.id for k in kids]
    raise AttributionError(f"'{parent}' is not the parent of an identity in the tree")


def decompose(
    tree: Tree, parent: str, actual: Mapping[str, float], reference: Mapping[str, float]
) -> Decomposition:
    relation, kids = _identity(tree, parent)
    for name, values in (("actual", actual), ("reference", reference)):
        missing = [k for k in (parent, *kids) if values.get(k) is None]
        if missing:
            raise AttributionError(f"{name} values missing for {missing}")
    p1, p0 = float(actual[parent]), float(reference[parent])
    if relation == "product":
        bad = [k for k in (parent, *kids) if float(actual[k]) <= 0 or float(reference[k]) <= 0]
        if bad:
            raise AttributionError(f"LMDI needs positive values; not positive: {bad}")
        weight = log_mean(p1, p0)
        contributions = {k: weight * math.log(float(actual[k]) / float(reference[k])) for k in kids}
    else:
        contributions = {k: float(actual[k]) - float(reference[k]) for k in kids}
    residual = (p1 - p0) - math.fsum(contributions.values())
    return Decomposition(parent, relation, p1, p0, contributions, residual)


def adverse(value: float, direction: str) -> float:
    """How much a change hurts: positive is bad (a fall for higher-is-better)."""
    return -value if direction == "higher" else value


def largest_adverse(effects: Mapping[str, float], direction: str) -> str | None:
    """The key whose effect hurts most, or None if none hurts."""
    if not effects:
        return None
    key = max(effects, key=lambda k: adverse(effects[k], direction))
    return key if adverse(effects[key], direction) > 0 else None


def member_effects_sum(
    actual: Mapping[str, float], reference: Mapping[str, float]
) -> dict[str, float]:
    members = sorted(set(actual) | set(reference))
    return {m: float(actual.get(m, 0.0)) - float(reference.get(m, 0.0)) for m in members}


def member_effects_ratio(
    actual: Mapping[str, tuple[float, float]], reference: Mapping[str, tuple[float, float]]
) -> dict[str, float]:
    """Each member's part of a rate's change (r = N / D), rate effect plus mix effect:
    Σ_m [ s̄_m (r_m1 − r_m0) + r̄_m (s_m1 − s_m0) ] = r1 − r0 exactly (s = D_m / D)."""
    d1 = math.fsum(d for _, d in actual.values())
    d0 = math.fsum(d for _, d in reference.values())
    if d1 <= 0 or d0 <= 0:
        raise AttributionError("a rate's denominators add up to zero")
    out = {}
    for m in sorted(set(actual) | set(reference)):
        n1, den1 = actual.get(m, (0.0, 0.0))
        n0, den0 = reference.get(m, (0.0, 0.0))
        r1 = n1 / den1 if den1 else None
        r0 = n0 / den0 if den0 else None
        r1 = r0 if r1 is None else r1
        r0 = r1 if r0 is None else r0
        r1, r0 = r1 or 0.0, r0 or 0.0
        s1, s0 = den1 / d1, den0 / d0
        out[m] = (s1 + s0) / 2 * (r1 - r0) + (r1 + r0) / 2 * (s1 - s0)
    return out


def explain(
    tree: Tree,
    decomposition: Decomposition,
    *,
    member: str | None = None,
    period: str = "month-to-date",
    lang: str = "en",
    against: str = "pace",
) -> str:
    """One or two plain sentences, e.g. "GMV month-to-date is 8.2 % below pace: sessions −1.1
    pt, conversion rate −6.9 pt, average order value −0.2 pt; conversion rate fell most in
    paid_search." (``lang="zh"`` in Chinese)."""
    d = decomposition
    node = tree.nodes[d.parent]
    name = (lambda n: n.zh) if lang == "zh" else (lambda n: n.en)
    pct = 100 * d.gap / d.reference if d.reference else 0.0
    unit = " 个百分点" if lang == "zh" else " pt"
    parts = ", ".join(f"{name(tree.nodes[k])} {_signed(v)}{unit}" for k, v in d.points().items())
    worst = largest_adverse(d.contributions, node.direction)
    if lang == "zh":
        where = "低于" if pct < 0 else "高于"
        basis = "进度" if against == "pace" else "基准"
        text = f"{name(node)}{period}{where}{basis} {abs(pct):.1f}%：{parts.replace(', ', '，')}"
        if worst and member:
            text += f"；{name(tree.nodes[worst])}下降最多的是 {member}"
        return text + "。"
    where = "below" if pct < 0 else "above"
    text = f"{name(node)} {period} is {abs(pct):.1f} % {where} {against}: {parts}"
    if worst and member:
        verb = "fell" if d.contributions[worst] < 0 else "rose"
        text += f"; {name(tree.nodes[worst])} {verb} most in {member}"
    return text + "."


def _signed(value: float) -> str:
    """+1.1 / −1.1 (a true minus sign), one decimal."""
    text = f"{abs(value):.1f}"
    if text == "0.0":
        return "±0.0"
    return ("+" if value > 0 else "\u2212") + text
