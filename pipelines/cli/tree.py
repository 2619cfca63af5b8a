"""`kpi tree`: the KPI tree with each node's value for a day and its month."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import duckdb
import typer

from kpi_tree.model import default_tree
from kpi_tree.report import TreePeriods, render_tree
from pipelines.cli.console import console
from pipelines.queries import kpi_availability
from pipelines.settings import Settings, load_settings


def print_tree(settings: Settings, day: dt.date | None = None) -> None:
    """The tree for ``day`` (default: the last built day) and that day's month."""
    if not settings.build_db.exists():
        console.print("No build warehouse yet: run `kpi run` or `kpi demo` first.")
        return
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        periods = TreePeriods.latest(con)
        if periods is None:
            console.print("The KPI tree has not been built yet.")
            return
        if day is not None:
            periods = TreePeriods(day, day.replace(day=1))
        console.print(
            f"KPI tree for the day {periods.day} and the month {periods.month:%Y-%m} "
            "(totals; `kpi tree --date D` for another day)",
            highlight=False,
        )
        console.print(
            render_tree(default_tree(), con, periods, settings.formats, kpi_availability(con)),
            highlight=False,
            soft_wrap=True,
        )


def tree(
    date: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Day to show (default: the last built day; the month shown is that day's month).",
        ),
    ] = None,
) -> None:
    """Print the KPI tree with each node's value for a day and a month."""
    print_tree(load_settings(), date.date() if date else None)
