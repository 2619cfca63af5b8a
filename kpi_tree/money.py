"""Which published numbers are amounts of money, read from the tree's units.

A KPI that sums a measure and whose unit is money (GMV, ad spend, net revenue) is an amount,
and so is every measure marked ``unit: money`` in ``tree.yaml`` (the parts of a rate:
signed-off GMV over GMV). A ratio of money (AOV, CPC, ROAS) is not an amount: it stays
floating, so that the tree's identities (GMV = sessions × CVR × AOV) hold in the published
numbers without rounding. The serving file publishes amounts as DECIMAL(18, 2) where a column
holds nothing else, and rounds them to the cent in the long tables whose value columns hold
every KPI (``pipelines/publish``).
"""

from __future__ import annotations

from kpi_tree.model import Node, Tree

MONEY = "money"


def money_measures(tree: Tree) -> frozenset[str]:
    """The measures that are amounts of money."""
    return frozenset(m.id for m in tree.measures.values() if m.unit == MONEY)


def is_amount(node: Node) -> bool:
    """Whether the KPI's value is an amount of money (a sum of money, not a ratio of it)."""
    return node.kind == "sum" and node.unit == MONEY


def amount_kpis(tree: Tree) -> list[str]:
    """The KPIs whose value, target and pace are amounts of money."""
    return [n.id for n in tree.nodes.values() if is_amount(n)]


def money_part_kpis(tree: Tree, part: str) -> list[str]:
    """The KPIs whose ``part`` (``numerator`` or ``denominator``) sums a money measure."""
    money = money_measures(tree)
    return [n.id for n in tree.nodes.values() if getattr(n, part) in money]


def mart_money_columns(tree: Tree, team: str) -> list[str]:
    """The columns of a team's mart (one per KPI, and a ratio's parts) that hold money."""
    money = money_measures(tree)
    columns = []
    for node in (n for n in tree.nodes.values() if n.team == team):
        if is_amount(node):
            columns.append(node.id)
        elif node.kind == "ratio":
            parts = ("numerator", "denominator")
            columns += [f"{node.id}__{p}" for p in parts if getattr(node, p) in money]
    return columns
