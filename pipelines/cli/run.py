"""`kpi run`: the nightly job over a day or a range of days, as one Dagster run.

It ends by saying what became of each publication unit, and exits 0 when every unit was
published or skipped (the shop delivers nothing the unit can compute), 1 when the run failed
or a unit was held back by its quality gate (a data failure: the message says what to do).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from kpi_tree.availability import summary
from kpi_tree.units import SHARED_UNIT
from pipelines.cli.console import console, err_console
from pipelines.cli.status import print_summary
from pipelines.runner import RunOutcome, prepare_dagster_home, run_nightly
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
    return run_and_report(settings, start, end, record).ok


def run_and_report(
    settings: Settings, start: dt.date, end: dt.date, record: bool = False
) -> RunOutcome:
    """Run the nightly job over ``start``..``end``, say how it went, return the outcome."""
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
    return outcome


def print_units(outcome: RunOutcome) -> None:
    """What the run published, held back and skipped, and the KPIs it could not compute."""
    if outcome.published:
        console.print(f"[green]Published:[/green] {', '.join(outcome.published)}.")
        # per team (the shared unit's list is every team's together)
        for unit in outcome.published:
            if unit != SHARED_UNIT and (missing := outcome.not_available.get(unit)):
                console.print(f"  {unit}, not available: {summary(missing)}.", highlight=False)
    for unit in outcome.skipped:
        console.print(
            f"[yellow]Skipped:[/yellow] {unit}: none of its KPIs can be computed from the "
            f"sources delivered: {summary(outcome.not_available.get(unit, {}))}. Deliver "
            "them to publish it (docs/sources.md).",
            highlight=False,
        )
    if outcome.held_back:
        err_console.print(
            f"[red]Held back:[/red] {', '.join(outcome.held_back)}: a data failure: "
            "their quality checks failed and their last good publication stays. "
            "`kpi serve-info` names the failed checks (and their report); repair or "
            "re-deliver the files of the days they name, then run those days again "
            "(`kpi run --start D --end D`).",
            highlight=False,
        )


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
    outcome = run_and_report(settings, first, last, record)
    print_summary(settings)
    print_units(outcome)
    raise typer.Exit(outcome.exit_code)
