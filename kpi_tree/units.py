"""Publication units: the slices of the warehouse that are checked and published as one.

Each team of ``tree.yaml`` is a unit, named by its ``mart``: the unit's schema in the build
and serving warehouses, its mart ``<mart>.<mart>_kpis`` and its slice (the rows of the KPIs
the team owns) of the KPI values and the pace. The shared unit ``kpi_tree`` holds the tree's
own tables and the targets; in the serving file it also shows every team's published slice
as one view.

A unit's quality gate judges one built table (:func:`gated_table`): a team's mart, or for the
shared unit the pace table, built last. Every unit publishes rows of the pace table, so its
publication waits for that table too (:data:`PACE_TABLE`).

Pure data about the tree: the Dagster asset keys are built from these tables in ``pipelines/``.
"""

from __future__ import annotations

from typing import NamedTuple

from kpi_tree.model import Node, Tree

SHARED_UNIT = "kpi_tree"


class Table(NamedTuple):
    """A table of the build warehouse (a dbt model: its schema and name)."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


#: the pace against targets (dbt model fct_kpi_vs_target, in schema kpi)
PACE_TABLE = Table("kpi", "fct_kpi_vs_target")


def team_units(tree: Tree) -> dict[str, str]:
    """Each team's unit (its ``mart`` in tree.yaml) -> the team's id, in tree.yaml's order."""
    return {team["mart"]: tid for tid, team in tree.teams.items()}


def publication_units(tree: Tree) -> list[str]:
    """Every unit: the teams' first, then the shared one (whose gate runs last)."""
    return [*team_units(tree), SHARED_UNIT]


def unit_team(tree: Tree, unit: str) -> str:
    """The team id of a team's unit; a clear error for any other name."""
    units = team_units(tree)
    if unit not in units:
        raise KeyError(
            f"'{unit}' is not a team's publication unit (the teams' `mart` in tree.yaml: "
            f"{', '.join(units)})"
        )
    return units[unit]


def mart_table(unit: str) -> Table:
    """A team's mart: one row per period and dimension member, one column per KPI."""
    return Table(unit, f"{unit}_kpis")


def gated_table(unit: str) -> Table:
    """The table a unit's quality gate judges, once it is built."""
    return PACE_TABLE if unit == SHARED_UNIT else mart_table(unit)


def unit_kpis(tree: Tree, unit: str) -> list[Node]:
    """The KPIs whose rows a team's unit publishes (none of its own for the shared unit)."""
    if unit == SHARED_UNIT:
        return []
    team = unit_team(tree, unit)
    return [n for n in tree.nodes.values() if n.team == team]
