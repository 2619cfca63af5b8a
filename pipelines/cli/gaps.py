"""`kpi gaps`: the days a source is missing, and accepting one (expectations/gaps.py).

A missing source day holds back the units whose KPIs read the source, night after night,
until its file lands and the day is re-run, or an operator accepts it here with a reason.
An accepted day publishes with those KPIs unknown (null) and their periods flagged
incomplete; the acceptance is logged (who, when, why) in the warehouse folder.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import duckdb
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from expectations.gaps import accept as record_acceptance
from expectations.gaps import read_accepted, record_path
from pipelines.cli import choices
from pipelines.cli.console import console, err_console
from pipelines.queries import table_exists
from pipelines.settings import Settings, load_settings

app = typer.Typer(help="Missing source days: list them, accept one.", no_args_is_help=True)


def _gaps(settings: Settings) -> list[tuple[str, dt.date, str]]:
    """(source, day, KPIs unknown that day) of every missing source day the build found."""
    if not settings.build_db.exists():
        return []
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.IOException as err:
        err_console.print(
            f"[red]The build warehouse is busy[/red] ({escape(str(err))}): a run is writing "
            "it; try again when it ends."
        )
        raise typer.Exit(1) from None
    with con:
        if not table_exists(con, "kpi", "fct_source_gaps"):
            return []
        return con.execute(
            "select source, date_day, string_agg(kpi_id, ', ' order by kpi_id) "
            "from kpi.fct_source_gaps group by all order by date_day, source"
        ).fetchall()


def list_gaps() -> None:
    """The missing source days, each accepted (by whom, why) or still holding units back."""
    settings = load_settings()
    accepted = {(g.source, g.day): g for g in read_accepted(settings.warehouse_dir)}
    gaps = _gaps(settings)
    if not gaps:
        console.print("No missing source days.")
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("source", "day", "unknown KPIs", "status"):
        table.add_column(column)
    for source, day, kpis in gaps:
        gap = accepted.get((source, day))
        status = (
            f"accepted by {gap.accepted_by} {gap.accepted_at:%Y-%m-%d %H:%M}Z: {gap.reason}"
            if gap
            else "[red]holding back[/red]"
        )
        table.add_row(source, day.isoformat(), kpis, status)
    console.print(table)


def accept(
    source: Annotated[
        str, typer.Argument(help="The source that is missing.", callback=choices.source)
    ],
    day: Annotated[dt.datetime, typer.Argument(help="The business day.", formats=["%Y-%m-%d"])],
    reason: Annotated[
        str, typer.Option(help="Why the day will not be repaired (logged with your name).")
    ],
) -> None:
    """Accept a missing source day: the units it holds back publish at the next run, with the
    KPIs that read the source unknown (null) that day and their weeks and months flagged
    incomplete. Logged (who, when, why)."""
    settings = load_settings()
    when = day.date()
    if not reason.strip():
        err_console.print("[red]--reason must say why the day will not be repaired.[/red]")
        raise typer.Exit(2)
    gaps = {(s, d): kpis for s, d, kpis in _gaps(settings)}
    if (source, when) not in gaps:
        known = ", ".join(f"{s} {d}" for s, d in gaps) or "none"
        err_console.print(
            f"[red]{source} is not missing on {when}[/red] in the build warehouse "
            f"(missing days: {known}). Nothing was recorded."
        )
        raise typer.Exit(1)
    gap = record_acceptance(settings.warehouse_dir, source, when, reason)
    console.print(
        f"Accepted: {source} missing on {when} ({escape(gap.reason)}), by {gap.accepted_by}; "
        f"logged in {record_path(settings.warehouse_dir)}. At the next `kpi run` the units "
        f"it held back publish, with {gaps[(source, when)]} unknown that day."
    )


app.command("list")(list_gaps)
app.command("accept")(accept)
