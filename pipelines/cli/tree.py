"""`kpi tree`: the KPI tree with each node's value for a day and its month.

A terminal as wide as the whole table gets every node in Chinese and English, every value
whole and the team; a narrower one (80 columns) gets the chosen columns, one row a node: the
name in the shop's language (cut short when it must be, never an amount), the values compact
(万/亿, K/M: :meth:`kpi_tree.formats.Formats.compact`) and the team, and what a KPI that cannot
be computed needs below the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated

import duckdb
import typer
from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from kpi_tree.availability import Availability
from kpi_tree.formats import Formats
from kpi_tree.model import Node, Tree, default_tree
from kpi_tree.report import RELATION_MARK, TreePeriods, tree_values
from pipelines.cli.console import console
from pipelines.i18n import N_, _, lang
from pipelines.queries import kpi_availability
from pipelines.settings import Settings, load_settings

#: the width the tree needs with both names, whole values and the reasons (below it: narrow)
WIDE = 110
#: what a value cell shows for a KPI the shop cannot compute
NOT_AVAILABLE = N_("n/a")


def _name(node: Node) -> str:
    return node.zh if lang() == "zh" else node.en


def _team(tree: Tree, node: Node) -> str:
    team = tree.teams[node.team]
    return team["zh"] if lang() == "zh" else team["en"]


def _legend(provisional: bool, unavailable: bool) -> str:
    return (
        _("× product identity, + sum identity, · driver.")
        + (
            "  "
            + _(
                "* provisional: late facts (sign-off, returns) are still arriving; shown is the "
                "expected final value from mature cohorts (the observed: kpi_values)."
            )
            if provisional
            else ""
        )
        + (
            "  "
            + _("{na}: not available, the shop does not deliver a source it reads.").format(
                na=_(NOT_AVAILABLE)
            )
            if unavailable
            else ""
        )
    )


def _cells(
    node: Node,
    values: tuple[dict, dict],
    availability: Mapping[str, Availability],
    write,
) -> tuple[list[str], bool, str | None]:
    """The day's and the month's cells of ``node`` (``write(value, unit)``), whether one is
    provisional, and why the shop cannot compute it (None: it can)."""
    cannot = availability.get(node.id)
    if cannot is not None and not cannot.available:
        return [_(NOT_AVAILABLE) + " "] * 2, False, cannot.reason(lang()) or ""
    cells, provisional = [], False
    for grain in values:
        value, prov = grain.get(node.id, (None, False))
        provisional |= bool(prov)
        cells.append(write(value, node.unit) + ("*" if prov else " "))
    return cells, provisional, None


def wide_tree(
    tree: Tree,
    values: tuple[dict, dict],
    periods: TreePeriods,
    formats: Formats,
    availability: Mapping[str, Availability],
) -> str:
    """Every node in Chinese and English, its values whole, its team and what it needs."""
    label_width = max(len(_label(depth, n)) + _wide_chars(n.zh) for depth, n in tree.depth_first())
    head = _("KPI tree")
    lines = [
        f"{head}{' ' * max(label_width - len(head) - _wide_chars(head), 0)}  "
        f"{_right(periods.day.isoformat(), 14)}  {_right(f'{periods.month:%Y-%m}', 14)}  "
        + _("team"),
        "-" * (label_width + 50),
    ]
    provisional = unavailable = False
    for depth, node in tree.depth_first():
        label = _label(depth, node)
        pad = label_width - len(label) - _wide_chars(node.zh)
        cells, prov, reason = _cells(node, values, availability, formats.value)
        provisional |= prov
        team = _team(tree, node)
        if reason is not None:
            unavailable = True
            team += "  (" + _("not available: {reason}").format(reason=reason) + ")"
        day_cell, month_cell = (_right(cell, 14) for cell in cells)
        lines.append(f"{label}{' ' * pad}  {day_cell}  {month_cell}  {team}")
    lines.append(_legend(provisional, unavailable))
    return "\n".join(lines)


def narrow_tree(
    tree: Tree,
    values: tuple[dict, dict],
    periods: TreePeriods,
    formats: Formats,
    availability: Mapping[str, Availability],
    width: int = 80,
) -> tuple[Table, list[str]]:
    """The chosen columns, a row a node: the name in the shop's language (cut short when the
    terminal needs it), the values compact, the team; and the lines that follow the table
    (what the KPIs that cannot be computed need, the legend)."""
    rows, provisional = [], False
    needs: dict[str, list[str]] = {}
    for depth, node in tree.depth_first():
        cells, prov, reason = _cells(node, values, availability, formats.compact)
        provisional |= prov
        if reason is not None:
            needs.setdefault(reason, []).append(_name(node))
        label = f"{'  ' * depth}{RELATION_MARK[node.relation]} {_name(node)}"
        rows.append((label, *cells, _team(tree, node)))
    heads = (periods.day.isoformat(), f"{periods.month:%Y-%m}")
    # an amount is never cut: its column is as wide as its widest cell; the team's name is cut
    # at 12 and the KPI's name gets what is left of the terminal
    amounts = [max(cell_len(h), *(cell_len(r[i]) for r in rows)) for i, h in enumerate(heads, 1)]
    team_width = min(12, max(cell_len(_("team")), *(cell_len(r[3]) for r in rows)))
    fixed = sum(amounts) + team_width + 2 * 3 + 3  # cells, their padding, the separators
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
    table.add_column(
        _("KPI tree"), no_wrap=True, overflow="ellipsis", width=max(12, width - fixed - 1)
    )
    for head, widest in zip(heads, amounts, strict=True):
        table.add_column(head, justify="right", no_wrap=True, width=widest)
    table.add_column(_("team"), no_wrap=True, overflow="ellipsis", width=team_width)
    for label, day_cell, month_cell, team in rows:
        table.add_row(Text(label), day_cell, month_cell, Text(team))
    after = [
        _("{na}: {reason} ({kpis})").format(na=_(NOT_AVAILABLE), reason=why, kpis=_(", ").join(n))
        for why, n in needs.items()
    ]
    return table, [*after, _legend(provisional, bool(needs))]


def print_tree(settings: Settings, day: dt.date | None = None) -> None:
    """The tree for ``day`` (default: the last built day) and that day's month."""
    if not settings.build_db.exists():
        console.print(_("No build warehouse yet: run `kpi run` or `kpi demo` first."))
        return
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        periods = TreePeriods.latest(con)
        if periods is None:
            console.print(_("The KPI tree has not been built yet."))
            return
        if day is not None:
            periods = TreePeriods(day, day.replace(day=1))
        values = (tree_values(con, "day", periods.day), tree_values(con, "month", periods.month))
        availability = kpi_availability(con)
    # the title fits 80 columns in either language; how to see another day is said at the end
    console.print(
        title(periods.day, periods.month), highlight=False, no_wrap=True, overflow="ellipsis"
    )
    tree, formats = default_tree(), settings.formats
    another = _("Another day: `kpi tree --date D`.")
    if console.width >= WIDE:
        console.print(
            wide_tree(tree, values, periods, formats, availability),
            highlight=False,
            soft_wrap=True,
        )
        console.print(another, highlight=False)
        return
    table, after = narrow_tree(tree, values, periods, formats, availability, console.width)
    console.print(table, highlight=False)
    for line in [*after, another]:
        console.print(line, highlight=False)


def title(day: dt.date, month: dt.date) -> str:
    """The first line of `kpi tree`: which day and which month, in the active language."""
    return _("KPI tree, totals: the day {day} and the month {month}").format(
        day=day, month=f"{month:%Y-%m}"
    )


def _label(depth: int, node: Node) -> str:
    return f"{'  ' * depth}{RELATION_MARK[node.relation]} {node.zh} {node.en}"


def _right(text: str, width: int) -> str:
    """``text`` right-aligned in ``width`` terminal columns (a unit may be written in CJK)."""
    return " " * max(width - len(text) - _wide_chars(text), 0) + text


def _wide_chars(text: str) -> int:
    """CJK characters take two columns in a terminal."""
    return sum(1 for ch in text if ord(ch) > 0x2E80)


def tree(
    date: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help=N_(
                "Day to show (default: the last built day; the month shown is that day's month)."
            ),
        ),
    ] = None,
) -> None:
    """Print the KPI tree with each node's value for a day and a month."""
    print_tree(load_settings(), date.date() if date else None)
