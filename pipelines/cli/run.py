"""`kpi run`: the nightly job over a day or a range of days, as one Dagster run.

While it runs, a live display shows its steps by stage over the days it covers; Dagster's and
dbt's logs go to a file under ``<data dir>/logs/`` whose path is printed (``--verbose`` shows
them as well). It ends with a summary: what became of each publication unit and why
(published, held back with what to do, skipped with what it needs), the alerts raised, where
the board is, and the log. It exits 0 when every unit was published or skipped (the shop
delivers nothing the unit can compute), 1 when the run failed or a unit was held back by its
quality gate (a data failure: the summary says what to do), 2 when it could not start.
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from kpi_tree.model import default_tree
from kpi_tree.units import SHARED_UNIT, team_units
from pipelines.cli.console import console, err_console, fail
from pipelines.cli.progress import RunProgress, terminal_console
from pipelines.cli.status import not_loaded, print_not_loaded, print_summary
from pipelines.i18n import N_, _, lang, ngettext
from pipelines.settings import Settings, load_settings

if TYPE_CHECKING:
    from pipelines.partitions import RunWindow
    from pipelines.runner import RunOutcome

RECORD_HELP = N_(
    "Record the run in the Dagster instance at DAGSTER_HOME (default <data dir>/dagster), so "
    "`kpi dev` shows it. Off by default: Dagster writes an event per asset and day, which "
    "makes a long range much slower to start and finish."
)
#: a unit's status in the publication log, as the summary says it
UNIT_STATUS = {
    "published": N_("published"),
    "held_back": N_("held back"),
    "skipped": N_("skipped"),
}


@dataclass(frozen=True)
class Landed:
    """The landed files a run may take (:func:`landed_range`)."""

    first: dt.date
    last: dt.date
    #: the files refused for a name dated beyond the date horizon (said on stderr)
    refused: list[str]
    #: (path, delivery date) of every file delivered first..last
    files: list[tuple[Path, dt.date]]


def landed_range(settings: Settings, check_first: bool = True) -> Landed:
    """The first and last delivery date of the landed files (exit 2 when there are none, or
    with ``check_first`` when the first is before partitions_start), the files of those days,
    and the files refused for a name dated beyond the date horizon (the run's date +
    ``date_horizon_days``: a mistyped year, not a day to wait for), each said on stderr. Files
    delivered on a day that is not over yet but within the horizon are left to a later run,
    and a line says so."""
    from pipelines.partitions import last_complete_day
    from pipelines.sensors import landed_files

    landed = landed_files(settings.landing_dir, settings.business_timezone)
    files = sorted((day, path) for path, day, _path in landed)
    if not files:
        print_not_loaded(not_loaded(settings, []))  # a wrong-case folder: said, not just "none"
        raise fail(
            _("No landing files under {folder}.").format(folder=settings.landing_dir)
            + " "
            + _("Run `kpi generate` or deliver files there (see docs/sources.md).")
        )
    first, path = files[0]
    if check_first:
        what = _("delivery of {file}").format(file=path.relative_to(settings.landing_dir))
        _check(settings, first, first, what)
    last_day, horizon = last_complete_day(settings), settings.date_horizon()
    refused = [str(path.relative_to(settings.landing_dir)) for day, path in files if day > horizon]
    for name in refused:
        err_console.print(
            escape(
                _(
                    "{file}: refused: its name dates it beyond the date horizon {horizon} (the "
                    "run's date + date_horizon_days): not loaded. Rename it with the day it "
                    "was delivered, or remove it."
                ).format(file=name, horizon=horizon)
            ),
            highlight=False,
            soft_wrap=True,
        )
    later = [day for day, _path in files if last_day < day <= horizon]
    if later:
        console.print(
            _(
                "Files delivered {first} .. {last} wait until their day is over (the last "
                "complete day is {day}): a later run loads them."
            ).format(first=later[0], last=later[-1], day=last_day)
        )
    taken = [(path, day) for day, path in files if day <= last_day]
    if not taken:
        raise typer.Exit(2 if not refused else 1)
    return Landed(taken[0][1], taken[-1][1], refused, taken)


def new_deliveries(settings: Settings, landed: Landed) -> tuple[dt.date, dt.date] | None:
    """What a plain `kpi run` runs of the ``landed`` files: from the first to the last
    delivery date with a file no finished run loaded as it is now
    (:func:`~pipelines.runner.unsettled_deliveries`), each said in a line; None when there is
    none (nothing new landed)."""
    from pipelines.runner import unsettled_deliveries

    first, last = landed.first, landed.last
    unsettled = unsettled_deliveries(settings, landed.files)
    if unsettled is None:
        return first, last
    if unsettled.config_changed:
        console.print(
            _(
                "{config} changed after the last run: every landed delivery runs again "
                "({first} .. {last})."
            ).format(config=settings.config_file.name, first=first, last=last),
            highlight=False,
        )
        return first, last
    if not unsettled.days:
        console.print(
            _(
                "Nothing new: every file delivered {first} .. {last} was loaded by a run that "
                "finished. To run days again: `kpi run --date DAY` or `kpi run --start DAY "
                "--end DAY`."
            ).format(first=first, last=last),
            highlight=False,
        )
        return None
    new_first, new_last = unsettled.days[0], unsettled.days[-1]
    if new_first != first:
        console.print(
            _(
                "The files delivered {first} .. {before} were loaded by a run that finished; "
                "this run takes the new and changed ones, from {new_first}."
            ).format(first=first, before=new_first - dt.timedelta(days=1), new_first=new_first),
            highlight=False,
        )
    return new_first, new_last


def _check(settings: Settings, start: dt.date, end: dt.date, what: str = "") -> None:
    """Exit 2 with one line when start..end are not all partitions (no run is started)."""
    from pipelines.partitions import OutsidePartitions, check_days

    try:
        check_days(settings, start, end, what)
    except OutsidePartitions as err:
        raise fail(str(err)) from None


def covered_window(settings: Settings, start: dt.date, end: dt.date) -> RunWindow:
    """The business window a run over the delivery dates start..end covered (the ledger of
    the build warehouse records its files' business dates)."""
    import duckdb

    from pipelines.partitions import window_of

    if not settings.build_db.exists():
        return window_of(None, settings, (start, end))
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.IOException:  # held by another program: the run's error says who
        return window_of(None, settings, (start, end))
    with con:
        return window_of(con, settings, (start, end))


def run_range(settings: Settings, start: dt.date, end: dt.date, record: bool = False) -> bool:
    """Run the nightly job over ``start``..``end`` and say how it went; True when it worked
    (held-back units included)."""
    outcome = run_and_report(settings, start, end, record)
    print_units(settings, outcome)
    return outcome.ok


def run_and_report(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    record: bool = False,
    verbose: bool = False,
) -> RunOutcome:
    """Run the nightly job over ``start``..``end`` with the live progress (and its logs in a
    file, on the terminal too with ``verbose``); say how it went; return the outcome."""
    # the definitions load Dagster's assets, dbt and Great Expectations: only the commands
    # that run the pipeline import them, so `kpi --help` and the reading commands answer at once
    import uuid

    import dagster as dg

    from pipelines.definitions import build_defs
    from pipelines.runner import logs_to, new_log_file, prepare_dagster_home, run_nightly

    if record:
        prepare_dagster_home(settings)
    n = (end - start).days + 1
    console.print(
        ngettext(
            "Running the nightly job over the files delivered {start} .. {end} ({n} day) as "
            "one Dagster run.",
            "Running the nightly job over the files delivered {start} .. {end} ({n} days) as "
            "one Dagster run.",
            n,
        ).format(start=start, end=end, n=n),
        highlight=False,
    )
    run_id = str(uuid.uuid4())
    log_file = new_log_file(settings, run_id)
    console.print(
        _("Dagster's and dbt's log: {path}").format(path=log_file), highlight=False, soft_wrap=True
    )
    terminal = sys.stdout
    defs = build_defs(settings.data_dir)
    steps = [node.name for node in defs.resolve_job_def("nightly").graph.nodes]
    progress = RunProgress(steps, n)
    started = time.monotonic()
    instance = dg.DagsterInstance.get() if record else dg.DagsterInstance.ephemeral()
    live = None
    if not verbose:
        # on the real terminal: what the run prints goes to its log while it runs
        live = Live(
            progress,
            console=terminal_console(terminal),
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        live.start()
    # what is loaded by now (Dagster, dbt, pandera, polars, the definitions: some 300,000
    # objects) stays loaded for the run: out of the cyclic collector while it runs, each of
    # its full collections walks only what the run made (Great Expectations' modules join
    # them when the first gate imports them: expectations.gx); back in after it
    gc.freeze()
    try:
        with instance, logs_to(log_file, echo=terminal if verbose else None):
            # an ephemeral instance's asset events end with it: the run does not write them
            outcome = run_nightly(
                defs,
                start,
                end,
                instance,
                listener=progress,
                run_id=run_id,
                asset_events=record,
            )
    finally:
        gc.unfreeze()
        progress.finish()
        if live is not None:
            live.stop()
    outcome.log_file = log_file
    window = covered_window(settings, start, end)
    if window.widened:
        console.print(
            _(
                "Their rows fall on business dates {start} .. {end} ({n} days): the run covered "
                "them all."
            ).format(start=window.start, end=window.end, n=window.days),
            highlight=False,
        )
    took = int(time.monotonic() - started)
    took_text = f"{took // 60}:{took % 60:02d}"
    if outcome.success:
        console.print(
            "[green]"
            + escape(_("Run {run} succeeded in {time}.").format(run=run_id[:8], time=took_text))
            + "[/green]"
        )
    elif outcome.ok:
        console.print(
            "[yellow]"
            + escape(
                _(
                    "Run {run} finished; held back by their quality gates: {units} (in {time})."
                ).format(run=run_id[:8], time=took_text, units=_(", ").join(outcome.held_back))
            )
            + "[/yellow]"
        )
    else:
        err_console.print(
            "[red]"
            + escape(_("Run {run} failed:").format(run=run_id[:8]))
            + "[/red] "
            + escape(str(outcome.error)),
            highlight=False,
        )
        err_console.print(
            escape(_("The whole log: {path}").format(path=log_file)),
            highlight=False,
            soft_wrap=True,
        )
    for refusal in outcome.refused:
        err_console.print(
            "[red]"
            + escape(
                _("Refused: {file} ({source}, {day}): {message}").format(**refusal)
                + " "
                + _("Fix the file, deliver it again, then run `kpi run --date {day}`.").format(
                    day=refusal["day"]
                )
            )
            + "[/red]",
            highlight=False,
            soft_wrap=True,
        )
    return outcome


def _unit_name(unit: str) -> str:
    teams = team_units(default_tree())
    if unit == SHARED_UNIT:
        return _("tree and targets")
    team = default_tree().teams[teams[unit]]
    return _("{team} ({unit})").format(team=team["zh"] if lang() == "zh" else team["en"], unit=unit)


def _published_availability(settings: Settings) -> dict:
    """Why each KPI is not available, as the serving file says (empty when there is none)."""
    import duckdb

    from pipelines.publish.serving import serving_db
    from pipelines.queries import kpi_availability

    if not serving_db(settings).exists():
        return {}
    with duckdb.connect(str(serving_db(settings)), read_only=True) as con:
        return kpi_availability(con, "kpi_tree", "kpi_availability")


def _not_available_text(availability: dict, missing: dict[str, str]) -> str:
    """What a unit cannot compute, in the active language: "needs sessions (Sessions, CTR)";
    ``availability``: the serving file's reasons (:func:`_published_availability`)."""
    tree = default_tree()
    reasons: dict[str, list[str]] = {}
    for kpi, why in missing.items():
        found = availability.get(kpi)
        reason = (found.reason(lang()) if found else None) or why
        node = tree.nodes.get(kpi)
        name = (node.zh if lang() == "zh" else node.en) if node else kpi
        reasons.setdefault(reason, []).append(name)
    return _("; ").join(
        _("{why} ({kpis})").format(why=why, kpis=_(", ").join(names))
        for why, names in reasons.items()
    )


def _held_back_text(settings: Settings, unit: str, outcome: RunOutcome, entry: dict) -> str:
    """Why a unit was held back, in business words (the verdict's failures), and its report."""
    from expectations.verdict import read_verdict
    from pipelines.alerts.heldback import problems
    from pipelines.links import report_link

    verdict = read_verdict(settings.warehouse_dir, unit)
    lines: list[str] = []
    if verdict is not None and verdict.run_id == outcome.run_id:
        folders = {name: source.folder for name, source in settings.sources.items()}
        start, end = dt.date.fromisoformat(verdict.start), dt.date.fromisoformat(verdict.end)
        lines = [
            str(p)
            for p in problems(
                verdict.failures,
                default_tree(),
                settings.vocabulary,
                settings.formats,
                folders,
                start,
                end,
            )
        ]
    else:
        lines = list(entry.get("failed_expectations") or [])
    report = report_link(settings, entry.get("report"))
    if report:
        lines.append(_("Quality report: {report}").format(report=report))
    return "\n".join(lines)


def print_units(settings: Settings, outcome: RunOutcome) -> None:
    """What the run did with each unit and why, the alerts it raised, the board and the log."""
    from pipelines.alerts.store import read_alerts
    from pipelines.alerts.words import SEVERITY, word
    from pipelines.cli.board import print_board_location
    from pipelines.runner import publications

    entries = publications(settings, outcome.run_id)
    if entries:
        table = Table(
            title=_("Publication"),
            title_justify="left",
            show_lines=True,
            expand=False,
        )
        table.add_column(_("unit"), no_wrap=False, min_width=10, max_width=22)
        table.add_column(_("status"), no_wrap=True)
        table.add_column(_("why / what to do"), overflow="fold", ratio=1)
        # read once for every unit that lacks a KPI, not once per unit
        availability = (
            _published_availability(settings)
            if any(outcome.not_available.get(u) for u in entries if u != SHARED_UNIT)
            else {}
        )
        for unit, entry in entries.items():
            status = entry["status"]
            colour = {"published": "green", "skipped": "yellow"}.get(status, "red")
            if status == "held_back":
                why = _held_back_text(settings, unit, outcome, entry)
            elif outcome.not_available.get(unit) and unit != SHARED_UNIT:
                missing = _not_available_text(availability, outcome.not_available[unit])
                why = (
                    _("none of its KPIs can be computed: {what}").format(what=missing)
                    if status == "skipped"
                    else _("not available: {what}").format(what=missing)
                )
            elif status == "failed" and entry.get("notes"):
                from pipelines.alerts.failed import step_words

                why = _("the night failed while {step}: see the error above").format(
                    step=step_words(entry["notes"][0].split(":", 1)[0])
                )
            else:
                why = ""
            table.add_row(
                escape(_unit_name(unit)),
                f"[{colour}]{escape(word(UNIT_STATUS, status))}[/{colour}]",
                escape(why),
            )
        console.print(table)
    if outcome.held_back:
        err_console.print(
            escape(
                _(
                    "Held back: {units}: a data failure; their last good publication stays. "
                    "Repair or re-deliver the files named above, then run those days again."
                ).format(units=_(", ").join(outcome.held_back))
            ),
            highlight=False,
        )
    raised = [a for a in read_alerts(settings) if a.get("run_id") == outcome.run_id]
    if raised:
        counts = Counter(a["severity"] for a in raised)
        by = _(", ").join(
            f"{word(SEVERITY, s)} {counts[s]}"
            for s in ("critical", "warning", "info")
            if s in counts
        )
        console.print(
            ngettext(
                "{n} alert raised ({by}); `kpi alerts` lists them:",
                "{n} alerts raised ({by}); `kpi alerts` lists them:",
                len(raised),
            ).format(n=len(raised), by=by),
            highlight=False,
        )
        rank = {"critical": 0, "warning": 1, "info": 2}
        for alert in sorted(raised, key=lambda a: rank.get(a["severity"], 3))[:5]:
            console.print(
                "  " + escape(f"[{word(SEVERITY, alert['severity'])}] {alert['title']}"),
                highlight=False,
            )
        if len(raised) > 5:
            console.print("  " + _("… and {n} more").format(n=len(raised) - 5), highlight=False)
    elif entries:
        console.print(_("No alerts raised."))
    print_board_location(settings)
    if outcome.log_file is not None:
        console.print(
            _("The run's log: {path}").format(path=outcome.log_file),
            highlight=False,
            soft_wrap=True,
        )


def run(
    start: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help=N_(
                "First delivery date (default: the first with a file no finished run "
                "loaded as it is)."
            ),
        ),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help=N_("Last delivery date (default: the last landed file's).")
        ),
    ] = None,
    date: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help=N_("Just the files delivered on this day.")),
    ] = None,
    record: Annotated[bool, typer.Option(help=RECORD_HELP)] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help=N_("Show Dagster's and dbt's log as well (it is always in the log file)."),
        ),
    ] = False,
) -> None:
    """Run the nightly pipeline over the files delivered on a day or a range of days, as one
    Dagster run; it covers every business date their rows fall on. Without dates: the days
    with files that no finished run loaded as they are now (new or changed files)."""
    settings = load_settings()
    refused: list[str] = []
    if date:
        first = last = date.date()
    else:
        landed = landed_range(settings, check_first=not start) if not (start and end) else None
        first = start.date() if start else landed.first
        last = end.date() if end else landed.last
        refused = landed.refused if landed else []
        if landed and not (start or end):
            narrowed = new_deliveries(settings, landed)
            if narrowed is None:
                raise typer.Exit(1 if refused else 0)
            first, last = narrowed
    if last < first:
        raise fail(_("--end {end} is before --start {start}.").format(end=last, start=first))
    _check(settings, first, last)
    outcome = run_and_report(settings, first, last, record, verbose)
    print_summary(settings)
    print_units(settings, outcome)
    if refused:
        err_console.print(
            escape(
                ngettext(
                    "{n} file refused for a date beyond the horizon (named above).",
                    "{n} files refused for a date beyond the horizon (named above).",
                    len(refused),
                ).format(n=len(refused))
            ),
            highlight=False,
        )
    # a refused file is a failure of the night, whatever became of the rest
    raise typer.Exit(outcome.exit_code or (1 if refused else 0))
