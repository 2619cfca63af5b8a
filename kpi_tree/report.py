"""Print the tree with its values: each node indented under its parent, in Chinese and English.

A node the shop cannot compute (``kpi_tree/availability.py``) shows "n/a" and what it needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from kpi_tree.availability import Availability
from kpi_tree.formats import Formats
from kpi_tree.model import Node, Tree

RELATION_MARK = {"product": "×", "sum": "+", "driver": "·", None: " "}


@dataclass(frozen=True)
class TreePeriods:
    day: dt.date
    month: dt.date  # first day of the last complete month

    @classmethod
    def latest(cls, con: duckdb.DuckDBPyConnection) -> TreePeriods | None:
        row = con.execute("select max(date_day) from kpi.fct_base_measures").fetchall()[0]
        if row[0] is None:
            return None
        day: dt.date = row[0]
        next_day = day + dt.timedelta(days=1)
        month_start = day.replace(day=1)
        if next_day.month == day.month:  # the month is not over yet: take the one before
            month_start = (month_start - dt.timedelta(days=1)).replace(day=1)
        return cls(day, month_start)


def tree_values(
    con: duckdb.DuckDBPyConnection, grain: str, period_start: dt.date
) -> dict[str, tuple[float | None, bool]]:
    # a provisional value is shown as its expected final value (docs/kpi-tree.md), marked
    rows = con.execute(
        "select kpi_id, case when is_provisional and expected_value is not null "
        "then expected_value else value end, is_provisional from kpi.fct_kpi_values "
        "where grain = ? and period_start = ? and dimension = 'total'",
        [grain, period_start],
    ).fetchall()
    return {kpi: (value, provisional) for kpi, value, provisional in rows}


#: what a value cell shows for a KPI the shop cannot compute
NOT_AVAILABLE = "n/a"


def render_tree(
    tree: Tree,
    con: duckdb.DuckDBPyConnection,
    periods: TreePeriods,
    formats: Formats,
    availability: Mapping[str, Availability] | None = None,
) -> str:
    """The tree, each value written in ``formats`` (the shop's currency and locale); a KPI the
    shop cannot compute (``availability``) shows as not available, with what it needs."""
    availability = availability or {}
    day = tree_values(con, "day", periods.day)
    month = tree_values(con, "month", periods.month)
    label_width = max(len(_label(depth, n)) + _wide_chars(n.zh) for depth, n in tree.depth_first())
    head_day = periods.day.isoformat()
    head_month = periods.month.strftime("%Y-%m")
    lines = [
        f"{'KPI tree':<{label_width}}  {head_day:>14}  {head_month:>14}  team",
        "-" * (label_width + 50),
    ]
    provisional = unavailable = False
    for depth, node in tree.depth_first():
        label = _label(depth, node)
        pad = label_width - len(label) - _wide_chars(node.zh)
        team = tree.teams[node.team]["en"]
        cannot = availability.get(node.id)
        if cannot is not None and not cannot.available:
            unavailable = True
            cells = [NOT_AVAILABLE + " ", NOT_AVAILABLE + " "]
            team += f"  (not available: {cannot.reason('en')})"
        else:
            cells = []
            for values in (day, month):
                value, prov = values.get(node.id, (None, False))
                provisional |= prov
                cells.append(formats.value(value, node.unit) + ("*" if prov else " "))
        day_cell, month_cell = (_right(cell, 14) for cell in cells)
        lines.append(f"{label}{' ' * pad}  {day_cell}  {month_cell}  {team}")
    lines.append(
        "× product identity, + sum identity, · driver."
        + (
            "  * provisional: late facts (sign-off, returns) are still arriving; shown is the "
            "expected final value from mature cohorts (the observed: kpi_values)."
            if provisional
            else ""
        )
        + (
            f"  {NOT_AVAILABLE}: not available, the shop does not deliver a source it reads."
            if unavailable
            else ""
        )
    )
    return "\n".join(lines)


def _label(depth: int, node: Node) -> str:
    return f"{'  ' * depth}{RELATION_MARK[node.relation]} {node.zh} {node.en}"


def _right(text: str, width: int) -> str:
    """``text`` right-aligned in ``width`` terminal columns (a unit may be written in CJK)."""
    return " " * max(width - len(text) - _wide_chars(text), 0) + text


def _wide_chars(text: str) -> int:
    """CJK characters take two columns in a terminal."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)
