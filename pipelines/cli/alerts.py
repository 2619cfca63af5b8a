"""`kpi alerts`: what was raised, for whom, and where it was delivered."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from kpi_tree.model import default_tree
from pipelines.alerts.words import CHANNEL, DELIVERY, KIND, SEVERITY, team_name, word
from pipelines.cli import choices
from pipelines.cli.console import console
from pipelines.i18n import N_, _
from pipelines.settings import Settings, load_settings

SEVERITY_STYLE = {"critical": "red", "warning": "yellow", "info": "cyan"}
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


def print_alerts(
    settings: Settings,
    day: dt.date | None = None,
    team: str | None = None,
    limit: int = 20,
) -> int:
    """Print the newest alerts (of ``day`` / ``team``); returns how many were shown."""
    # the store reads the serving file (pandas, duckdb): imported when alerts are printed
    from pipelines.alerts.store import read_alerts

    records = [
        r
        for r in read_alerts(settings)
        if (day is None or r["day"] == day.isoformat()) and (team is None or r["team"] == team)
    ]
    # newest day first; within a day the tree's teams top-down (the shop's own figures
    # before the teams' drivers), each team's most severe first
    tree = default_tree()
    team_rank = {t: i for i, t in enumerate(tree.teams)}
    records = sorted(records, key=lambda r: r["created_at"], reverse=True)
    records = sorted(
        records,
        key=lambda r: (
            -_day_number(r["day"]),
            team_rank.get(r["team"], len(team_rank)),
            SEVERITY_RANK.get(r["severity"], 3),
        ),
    )
    records = records[:limit]
    if not records:
        console.print(
            _("No alerts")
            + (" " + _("for {day}").format(day=day) if day else "")
            + (_(" ({team})").format(team=team) if team else "")
        )
        return 0
    # the records keep the words they were sent with; the table's own words are the shop's
    table = Table(
        _("day"), _("team"), _("kind"), _("severity"), _("alert"), _("delivered"), title=_("Alerts")
    )
    for r in records:
        style = SEVERITY_STYLE.get(r["severity"], "")
        where = (
            _(", ").join(
                f"{word(CHANNEL, d['channel'])} {word(DELIVERY, d['status'])}"
                for d in r["deliveries"]
            )
            or "-"
        )
        table.add_row(
            r["day"],
            team_name(tree, r["team"]),
            word(KIND, r["kind"]),
            f"[{style}]{escape(word(SEVERITY, r['severity']))}[/{style}]",
            f"[bold]{escape(r['title'])}[/bold]\n{escape(r['text'])}",
            where,
        )
    console.print(table)
    return len(records)


def _day_number(day: str) -> int:
    return dt.date.fromisoformat(day).toordinal()


def alerts(
    day: Annotated[
        dt.datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help=N_("Only this day."))
    ] = None,
    team: Annotated[
        str | None, typer.Option(help=N_("Only this team (a tree team id)."), callback=choices.team)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help=N_("At most this many alerts."))] = 20,
) -> None:
    """List the alerts raised: what, for whom, when, delivered where."""
    print_alerts(load_settings(), day.date() if day else None, team, limit)
