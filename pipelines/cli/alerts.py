"""`kpi alerts`: what was raised, for whom, and where it was delivered."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from pipelines.alerts.store import read_alerts
from pipelines.cli import choices
from pipelines.cli.console import console
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
    records = [
        r
        for r in read_alerts(settings)
        if (day is None or r["day"] == day.isoformat()) and (team is None or r["team"] == team)
    ]
    records = sorted(records, key=lambda r: r["created_at"], reverse=True)
    records = sorted(
        records, key=lambda r: (-_day_number(r["day"]), SEVERITY_RANK.get(r["severity"], 3))
    )
    records = records[:limit]
    if not records:
        console.print("No alerts" + (f" for {day}" if day else "") + (f" ({team})" if team else ""))
        return 0
    table = Table("day", "team", "kind", "severity", "alert", "delivered", title="Alerts")
    for r in records:
        style = SEVERITY_STYLE.get(r["severity"], "")
        where = ", ".join(f"{d['channel']} {d['status']}" for d in r["deliveries"]) or "-"
        table.add_row(
            r["day"],
            r["team"],
            r["kind"],
            f"[{style}]{r['severity']}[/{style}]",
            f"[bold]{r['title']}[/bold]\n{r['text']}",
            where,
        )
    console.print(table)
    return len(records)


def _day_number(day: str) -> int:
    return dt.date.fromisoformat(day).toordinal()


def alerts(
    day: Annotated[
        dt.datetime | None, typer.Option("--date", formats=["%Y-%m-%d"], help="Only this day.")
    ] = None,
    team: Annotated[
        str | None, typer.Option(help="Only this team (a tree team id).", callback=choices.team)
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """List the alerts raised: what, for whom, when, delivered where."""
    print_alerts(load_settings(), day.date() if day else None, team, limit)
