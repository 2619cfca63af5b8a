"""`kpi run`: the nightly job over a day or a range of days, as one Dagster run."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from pipelines.cli.console import console, err_console
from pipelines.cli.status import print_summary
from pipelines.runner import prepare_dagster_home, run_nightly
from pipelines.sensors import landed_files
from pipelines.settings import Settings, load_settings

RECORD_HELP = (
    "Record the run in the Dagster instance at DAGSTER_HOME (default <data dir>/dagster), so "
    "`kpi dev` shows it. Off by default: Dagster writes an event per asset and day, which "
    "makes a long range much slower to start and finish."
)


def landed_range(settings: Settings) -> tuple[dt.date, dt.date]:
    """The first and last delivery day of the landed files (exit 2 when there are none)."""
    days = sorted({day for _, day, _ in landed_files(settings.landing_dir)})
    if not days:
        err_console.print(
            f"[red]No landing files under {settings.landing_dir}.[/red] "
            "Run `kpi generate` or deliver files there (see docs/sources.md)."
        )
        raise typer.Exit(2)
    return days[0], days[-1]


def run_range(settings: Settings, start: dt.date, end: dt.date, record: bool = False) -> bool:
    """Run the nightly job over ``start``..``end`` and say how it went; True when it worked
    (held-back units included)."""
    # the definitions load Dagster's assets, dbt and Great Expectations: only the commands
    # that run the pipeline import them, so `kpi --help` and the reading commands answer at once
    import dagster as dg

    from pipelines.definitions import build_defs

    if record:
        prepare_dagster_home(settings)
    n = (end - start).days + 1
    console.print(f"Running the nightly job over {start} .. {end} ({n} days) as one Dagster run.")
    instance = dg.DagsterInstance.get() if record else dg.DagsterInstance.ephemeral()
    with instance:
        outcome = run_nightly(build_defs(settings.data_dir), start, end, instance)
    if outcome.success:
        console.print(f"[green]Run {outcome.run_id} succeeded.[/green]")
    elif outcome.ok:
        console.print(
            f"[yellow]Run {outcome.run_id} finished; held back by their quality gates: "
            f"{', '.join(outcome.held_back)}[/yellow] (their last good publication stays; "
            "`kpi serve-info` shows why)."
        )
    else:
        err_console.print(f"[red]Run {outcome.run_id} failed:[/red] {outcome.error}")
    return outcome.ok


def run(
    start: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First day (default: the first landed day)."),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day (default: the last landed day)."),
    ] = None,
    date: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Just this one day.")
    ] = None,
    record: Annotated[bool, typer.Option(help=RECORD_HELP)] = False,
) -> None:
    """Run the nightly pipeline over a day or a range of days, as one Dagster run."""
    settings = load_settings()
    if date:
        first = last = date.date()
    else:
        landed = landed_range(settings) if not (start and end) else None
        first = start.date() if start else landed[0]
        last = end.date() if end else landed[1]
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}")
    ok = run_range(settings, first, last, record)
    print_summary(settings)
    raise typer.Exit(0 if ok else 1)
