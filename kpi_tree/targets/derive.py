"""Targets down the KPI tree: from the top target and planned driver values, every node's.

Nothing here names a node. The equations come from the tree:
- every exact identity (``tree.identities()``): a product parent = Π children, a sum parent =
  Σ children;
- every ratio node whose numerator and denominator are each the measure of an additive node:
  ratio = scale × numerator node / denominator node (so orders = sessions × conversion rate,
  ad spend = ad clicks × CPC, CPM and ROAS follow);
- the plan's shares for the parts of a sum identity: part = share × parent (a part without a
  share takes the rest).
Known values (the top target, the drivers) are propagated through the equations until nothing
changes: an equation with one unknown is solved for it. Then every equation whose values are all
known is checked (a plan that gives both CPC and CPM, say, must give consistent ones) and the
identities are checked to a relative 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kpi_tree.model import Node, Tree

REL_TOL = 1e-9


class DeriveError(ValueError):
    """The drivers do not determine the tree, or contradict each other; the message says where."""


@dataclass(frozen=True)
class _Monomial:
    """Π value(node) ** power == constant."""

    powers: tuple[tuple[str, int], ...]
    constant: float
    label: str


@dataclass(frozen=True)
class _Sum:
    """value(parent) == Σ value(parts)."""

    parent: str
    parts: tuple[str, ...]
    label: str


def _close(a: float, b: float, rel: float = REL_TOL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel * 1e-6)


def _equations(tree: Tree, shares: Mapping[str, float]) -> list[_Monomial | _Sum]:
    eqs: list[_Monomial | _Sum] = []
    sum_parts: dict[str, list[str]] = {}
    for parent, relation, kids in tree.identities():
        ids = [k.id for k in kids]
        if relation == "product":
            eqs.append(
                _Monomial(
                    ((parent.id, 1), *((k, -1) for k in ids)),
                    1.0,
                    f"{parent.id} = {' × '.join(ids)}",
                )
            )
        else:
            eqs.append(_Sum(parent.id, tuple(ids), f"{parent.id} = {' + '.join(ids)}"))
            sum_parts[parent.id] = ids
    additive = {n.numerator: n.id for n in tree.nodes.values() if n.kind == "sum"}
    for node in tree.nodes.values():
        if node.kind != "ratio":
            continue
        num, den = additive.get(node.numerator), additive.get(node.denominator)
        if num and den:
            eqs.append(
                _Monomial(
                    ((node.id, 1), (num, -1), (den, 1)),
                    node.scale,
                    f"{node.id} = {node.scale:g} × {num} / {den}"
                    if node.scale != 1
                    else f"{node.id} = {num} / {den}",
                )
            )
    for parent, parts in sum_parts.items():
        given = [p for p in parts if shares.get(p) is not None]
        if len(given) == len(parts) and not _close(sum(shares[p] for p in given), 1.0):
            raise DeriveError(f"shares of {parts} (the parts of {parent}) must add up to 1")
        if len(given) < len(parts) - 1:
            missing = [p for p in parts if p not in given]
            raise DeriveError(
                f"shares: {parent} = {' + '.join(parts)} needs a share for all parts but one; "
                f"missing {missing[:-1]}"
            )
        for part in given:
            label = f"{part} = {shares[part]:g} × {parent}"
            eqs.append(_Monomial(((part, 1), (parent, -1)), float(shares[part]), label))
    return eqs


def _solve_one(eq: _Monomial | _Sum, values: dict[str, float]) -> tuple[str, float] | None:
    if isinstance(eq, _Sum):
        unknown = [n for n in (eq.parent, *eq.parts) if n not in values]
        if len(unknown) != 1:
            return None
        node = unknown[0]
        if node == eq.parent:
            return node, math.fsum(values[p] for p in eq.parts)
        return node, values[eq.parent] - math.fsum(values[p] for p in eq.parts if p != node)
    unknown = [(n, p) for n, p in eq.powers if n not in values]
    if len(unknown) != 1:
        return None
    node, power = unknown[0]  # powers are ±1: node-level products and ratios
    # node = constant^power × Π other^(−p × power)
    value = eq.constant**power
    for n, p in eq.powers:
        if n != node:
            exponent = -p * power
            if values[n] == 0 and exponent < 0:
                return None  # x / 0: this equation cannot fix the unknown
            value *= values[n] ** exponent
    return node, value


def _residual_ok(eq: _Monomial | _Sum, values: dict[str, float]) -> bool:
    if isinstance(eq, _Sum):
        return _close(values[eq.parent], math.fsum(values[p] for p in eq.parts))
    lhs = 1.0
    for n, p in eq.powers:
        if values[n] == 0 and p < 0:
            return True  # 0/0-style ratio: undefined, nothing to check
        lhs *= values[n] ** p
    return _close(lhs, eq.constant)


def derive_targets(
    tree: Tree,
    top: str,
    value: float,
    drivers: Mapping[str, float],
    shares: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Every node's target that follows from ``top`` = ``value`` and the driver values.

    ``drivers``: node id -> planned value (rates and other nodes; all resolved, no None);
    ``shares``: part of a sum identity -> its share of the parent. Every node that takes part
    in an identity must be determined, else :class:`DeriveError` says which are not. Nodes
    outside the identities with a planned value (e.g. first-response time) are passed through.
    """
    if top not in tree.nodes:
        raise DeriveError(f"unknown top KPI '{top}'")
    values: dict[str, float] = {top: float(value)}
    for node_id, v in drivers.items():
        if node_id not in tree.nodes:
            raise DeriveError(f"drivers: unknown node '{node_id}'")
        if v is None:
            raise DeriveError(f"drivers.{node_id}: no value (resolve trailing defaults first)")
        if node_id == top:
            raise DeriveError(f"drivers.{node_id}: is the top KPI; its target comes from the plan")
        values[node_id] = float(v)
    eqs = _equations(tree, {k: float(v) for k, v in (shares or {}).items() if v is not None})
    changed = True
    while changed:
        changed = False
        for eq in eqs:
            solved = _solve_one(eq, values)
            if solved is not None:
                values[solved[0]] = solved[1]
                changed = True
    broken = []
    for eq in eqs:
        names = (eq.parent, *eq.parts) if isinstance(eq, _Sum) else [n for n, _ in eq.powers]
        if all(n in values for n in names) and not _residual_ok(eq, values):
            broken.append(f"{eq.label} ({', '.join(f'{n}={values[n]:.6g}' for n in names)})")
    if broken:
        raise DeriveError("the planned values contradict each other on " + "; ".join(broken))
    in_identity = {n.id for parent, _, kids in tree.identities() for n in (parent, *kids)}
    missing = sorted(in_identity - set(values))
    if missing:
        raise DeriveError(
            f"the drivers do not determine {missing}: plan a value (or a trailing default) for "
            "the rates around them"
        )
    negative = sorted(n for n, v in values.items() if v < 0)
    if negative:
        raise DeriveError(f"derived targets are negative for {negative} (shares above 1?)")
    check_identities(tree, values)
    return {n: values[n] for n in tree.nodes if n in values}


def identity_violations(tree: Tree, values: Mapping[str, float], rel: float = REL_TOL) -> list[str]:
    """The identities of the tree that ``values`` break (those with every node present)."""
    out = []
    for parent, relation, kids in tree.identities():
        if parent.id not in values or any(k.id not in values for k in kids):
            continue
        if relation == "product":
            got = math.prod(values[k.id] for k in kids)
            sign = " × "
        else:
            got = math.fsum(values[k.id] for k in kids)
            sign = " + "
        if not _close(values[parent.id], got, rel):
            out.append(
                f"{parent.id} = {sign.join(k.id for k in kids)}: {values[parent.id]!r} != {got!r}"
            )
    return out


def check_identities(tree: Tree, values: Mapping[str, float], rel: float = REL_TOL) -> None:
    bad = identity_violations(tree, values, rel)
    if bad:
        raise DeriveError("identities do not hold: " + "; ".join(bad))


def _totals_for(
    tree: Tree, node: Node, totals: Mapping[str, float], mature: Mapping[str, float] | None
) -> Mapping[str, float]:
    """The totals a node's trailing value is read from: a node that matures (sign-off,
    refunds) from the mature window only, when there is one, so young cohorts whose outcomes
    have not arrived do not pull it down."""
    return mature if mature is not None and tree.node_matures(node) else totals


def trailing_drivers(
    tree: Tree, totals: Mapping[str, float], mature: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Driver values from trailing measure totals (measure id -> Σ over the trailing window).

    Every ratio node whose measures are present gets scale × Σnumerator / Σdenominator (the
    honest roll-up, never a mean of daily ratios). ``mature``: the totals of a window of
    mature days (ending ``maturity_days`` before the newest), which a node that matures is
    read from. Shares: :func:`trailing_shares`.
    """
    out: dict[str, float] = {}
    for node in tree.nodes.values():
        if node.kind != "ratio":
            continue
        source = _totals_for(tree, node, totals, mature)
        num, den = source.get(str(node.numerator)), source.get(str(node.denominator))
        if num is not None and den:
            out[node.id] = node.scale * float(num) / float(den)
    return out


def trailing_shares(
    tree: Tree, totals: Mapping[str, float], mature: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Each part of a sum identity's share of its parent, from trailing measure totals (a
    parent that matures: from the ``mature`` window's, as :func:`trailing_drivers`)."""
    out: dict[str, float] = {}
    for parent, relation, kids in tree.identities():
        if relation != "sum":
            continue
        source = _totals_for(tree, parent, totals, mature)
        whole = source.get(str(parent.numerator))
        if not whole:
            continue
        for kid in kids:
            part = source.get(str(kid.numerator))
            if part is not None:
                out[kid.id] = float(part) / float(whole)
    return out


def resolve(
    planned: Mapping[str, float | None], trailing: Mapping[str, float], what: str = "drivers"
) -> dict[str, float]:
    """The planned values, with None replaced by the trailing history's value."""
    out = {}
    for key, value in planned.items():
        if value is None:
            if key not in trailing:
                raise DeriveError(
                    f"{what}.{key}: planned as the trailing history, but the caller supplied no "
                    "trailing value for it"
                )
            out[key] = float(trailing[key])
        else:
            out[key] = float(value)
    return out
