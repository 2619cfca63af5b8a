"""What each publication unit publishes, and the shape BI reads it in.

The build warehouse's tables are published as they are, with three changes made for the
people who read them in a BI tool:

* **Money is money.** A column that holds only amounts of money (a team mart's GMV, ad spend,
  net revenue, and the money parts of its rates) is DECIMAL(18, 2), so a BI tool shows
  ``1016633.65``, not ``1016633.6499999999``. The long tables (``kpi_values``,
  ``kpi_vs_target``, the targets) hold every KPI in one value column, rates included, so
  those columns stay DOUBLE and a money KPI's rows are rounded to the cent. Which columns and
  KPIs are money comes from the tree's units (``kpi_tree/money.py``); rates and ratios (AOV,
  ROAS) stay floating, so the tree's identities still hold in the published numbers.
* **Names that cannot be confused.** The build's ``as_of_date`` (the newest day of data in
  the warehouse) sits beside ``as_of_day`` (the day a pace row judges): it is published as
  ``data_through``.
* **Traceability.** Every row carries ``_published_run_id`` and ``_published_at``.

The pace tables also get a ``*_latest`` view in the serving file (the newest as-of day only,
per team), since without an ``as_of_day`` filter they hold one row per day judged.
"""

from __future__ import annotations

from kpi_tree.model import Tree
from kpi_tree.money import amount_kpis, mart_money_columns, money_part_kpis
from kpi_tree.units import SHARED_UNIT, mart_table, unit_kpis, unit_team

#: build column -> published name
RENAMED = {"as_of_date": "data_through"}
#: the type of a column that holds only money
MONEY_TYPE = "decimal(18, 2)"
#: per long table: the columns that hold a KPI's number, the column naming the KPI, and which
#: part of the KPI the number is ("value": the KPI's own value, target and pace amounts)
LONG_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "kpi_values": (
        "kpi_id",
        {
            "value": "value",
            "numerator": "numerator",
            "denominator": "denominator",
            # the expected final value of a provisional KPI (docs/kpi-tree.md)
            "expected_value": "value",
            "expected_numerator": "numerator",
            "expected_denominator": "denominator",
        },
    ),
    "kpi_vs_target": (
        "kpi_id",
        {
            **dict.fromkeys(
                (
                    "target",
                    "paced_target",
                    "actual",
                    "gap",
                    "projected",
                    "needed_remaining",
                    "planned_remaining",
                    "observed_actual",
                ),
                "value",
            ),  # fmt: skip
            "numerator": "numerator",
            "denominator": "denominator",
        },
    ),
    "targets": ("kpi_id", {"value": "value"}),
    "targets_in_force": ("kpi_id", {"target": "value"}),
    "plan_versions": (
        "top_kpi_id",
        dict.fromkeys(("annual_target", "new_business", "months_total"), "value"),
    ),
}
#: the pace tables: each gets a ``<table>_latest`` view of its newest as-of day per team
PACE_TABLES = ("kpi_vs_target", "mid_month_check")
LATEST = "_latest"
#: the shared unit's tables that hold every team's published slice (one file per night, so a
#: query of the whole tree reads one night)
PER_TEAM = ("kpi_values", "kpi_vs_target")
TRACE_COLUMNS = ("_published_run_id", "_published_at")


def unit_tables(tree: Tree, unit: str) -> dict[str, str]:
    """Published table name -> the query that reads it from the build warehouse (the shared
    unit's ``kpi_values`` and ``kpi_vs_target`` are put together from the teams' at
    publication, not read here)."""
    if unit == SHARED_UNIT:
        return {
            "kpi_nodes": "select * from kpi.dim_kpi_nodes",
            "kpi_edges": "select * from kpi.dim_kpi_edges",
            # every plan version and every target of each, as planned (nothing overwritten)
            "plan_versions": "select * from staging.stg_targets__plan_versions",
            "targets": "select * from staging.stg_targets__targets",
            # the targets in force, stitched across versions, at every grain
            "targets_in_force": "select * from kpi.fct_targets",
            # which KPIs the shop can compute, and why not
            "kpi_availability": "select * from kpi.fct_kpi_availability",
        }
    ids = ", ".join(f"'{n.id}'" for n in unit_kpis(tree, unit))
    return {
        f"{unit}_kpis": f"select * from {mart_table(unit)}",
        "kpi_values": f"select * from kpi.fct_kpi_values where kpi_id in ({ids})",
        "kpi_vs_target": f"select * from kpi.fct_kpi_vs_target where kpi_id in ({ids})",
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _in(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids)


def published_columns(tree: Tree, unit: str, table: str, columns: list[str]) -> list[str]:
    """The select list that turns a build table's ``columns`` into the published table."""
    money_columns = (
        set(mart_money_columns(tree, unit_team(tree, unit)))
        if unit != SHARED_UNIT and table == f"{unit}_kpis"
        else set()
    )
    key, numbers = LONG_TABLES.get(table, ("", {}))
    money_kpis = {
        "value": amount_kpis(tree),
        "numerator": money_part_kpis(tree, "numerator"),
        "denominator": money_part_kpis(tree, "denominator"),
    }
    out = []
    for column in columns:
        name = _quote(RENAMED.get(column, column))
        source = _quote(column)
        if column in money_columns:
            out.append(f"round({source}, 2)::{MONEY_TYPE} as {name}")
        elif column in numbers and money_kpis[numbers[column]] and key in columns:
            kpis = _in(money_kpis[numbers[column]])
            out.append(
                f"case when {_quote(key)} in ({kpis}) then round({source}, 2) "
                f"else {source} end as {name}"
            )
        else:
            out.append(f"{source} as {name}")
    return out
