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
from pipelines.partitions import (
    OutsidePartitions,
    RunWindow,
    check_days,
    last_complete_day,
    window_of,
)
from pipelines.runner import RunOutcome, prepare_dagster_home, run_nightly
from pipelines.sensors import landed_files
from pipelines.settings import Settings, load_settings

RECORD_HELP = (
    "Record the run in the Dagster instance at DAGSTER_HOME (default <data dir>/dagster), so "
    "`kpi dev` shows it. Off by default: Dagster writes an event per asset and day, which "
    "makes a long range much slower to start and finish."
)


def landed_range(settings: Settings, check_first: bool = True) -> tuple[dt.date, dt.date]:
    """The first and last delivery date of the landed files (exit 2 when there are none, or
    with ``check_first`` when the first is before partitions_start). Files delivered on a
    day that is not over yet are left to a later run, and a line says so."""
    landed = landed_files(settings.landing_dir, settings.business_timezone)
    files = sorted((day, path) for path, day, _ in landed)
    if not files:
        err_console.print(
            f"[red]No landing files under {settings.landing_dir}.[/red] "
            "Run `kpi generate` or deliver files there (see docs/sources.md)."
        )
        raise typer.Exit(2)
    first, path = files[0]
    if check_first:
        _check(settings, first, first, f"delivery of {path.relative_to(settings.landing_dir)}")
    last_day = last_complete_day(settings)
    later = [day for day, _ in files if day > last_day]
    if later:
        console.print(
            f"Files delivered {later[0]} .. {later[-1]} wait until their day is over "
            f"(the last complete day is {last_day}): a later run loads them."
        )
    days = [day for day, _ in files if day <= last_day]
    if not days:
        raise typer.Exit(2)
    return days[0], days[-1]


def _check(settings: Settings, start: dt.date, end: dt.date, what: str = "") -> None:
    """Exit 2 with one line when start..end are not all partitions (no run is started)."""
    try:
        check_days(settings, start, end, what)
    except OutsidePartitions as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None


def covered_window(settings: Settings, start: dt.date, end: dt.date) -> RunWindow:
    """The business window a run over the delivery dates start..end covered (the ledger of
    the build warehouse records its files' business dates)."""
    import duckdb

    if not settings.build_db.exists():
        return window_of(None, settings, (start, end))
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        return window_of(con, settings, (start, end))


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
    console.print(
        f"Running the nightly job over the files delivered {start} .. {end} "
        f"({n} day{'' if n == 1 else 's'}) as one Dagster run."
    )
    instance = dg.DagsterInstance.get() if record else dg.DagsterInstance.ephemeral()
    with instance:
        # an ephemeral instance's asset events end with it: the run does not write them
        outcome = run_nightly(
            build_defs(settings.data_dir), start, end, instance, asset_events=record
        )
    window = covered_window(settings, start, end)
    if window.widened:
        console.print(
            f"Their rows fall on business dates {window.start} .. {window.end} "
            f"({window.days} days): the run covered them all."
        )
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
        typer.Option(
            formats=["%Y-%m-%d"],
            help="First delivery date (default: the first landed file's).",
        ),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="Last delivery date (default: the last landed file's)."
        ),
    ] = None,
    date: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Just the files delivered on this day."),
    ] = None,
    record: Annotated[bool, typer.Option(help=RECORD_HELP)] = False,
) -> None:
    """Run the nightly pipeline over the files delivered on a day or a range of days, as one
    Dagster run; it covers every business date their rows fall on."""
    settings = load_settings()
    if date:
        first = last = date.date()
    else:
        landed = landed_range(settings, check_first=not start) if not (start and end) else None
        first = start.date() if start else landed[0]
        last = end.date() if end else landed[1]
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}")
    _check(settings, first, last)
    outcome = run_and_report(settings, first, last, record)
    print_summary(settings)
    print_units(outcome)
    raise typer.Exit(outcome.exit_code)
