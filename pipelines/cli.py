"""`kpi`: the one documented way in for everything a user runs by hand."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.alerts.cli import alerts as alerts_command
from pipelines.alerts.cli import print_alerts
from pipelines.board.cli import board as board_command
from pipelines.console import console, err_console
from pipelines.settings import DATA_DIR_ENV, Settings, load_settings
from pipelines.targets.cli import print_catch_up, print_pace, targets_app

app = typer.Typer(
    help=(
        "KPI tree warehouse for e-commerce teams.\n\n"
        "Landing files -> validated raw tables (polars + pandera) -> KPI tree (dbt on DuckDB), "
        "orchestrated by Dagster. Start with `kpi demo`."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(targets_app, name="targets")
app.command("alerts")(alerts_command)
app.command("board")(board_command)
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")

DEMO_START = dt.date(2025, 1, 1)
#: 2025-01-01 .. 2026-06-15: a full year of history to plan 2026 from, then five and a half
#: months to pace, ending on the mid-month check day (月中检)
DEMO_DAYS = 531
DEMO_PLAN = Path(__file__).resolve().parent.parent / "kpi_tree" / "plans" / "sample_shop_2026.yaml"
DEMO_ORDERS_PER_DAY = 200


def _settings() -> Settings:
    return load_settings()


@app.callback()
def main(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar=DATA_DIR_ENV,
            help="Where landing files, warehouses and Dagster's run history live.",
            show_default="./data",
        ),
    ] = None,
) -> None:
    """Global options."""
    if data_dir is not None:
        # one setting for every location; set before any Dagster definitions are imported
        os.environ[DATA_DIR_ENV] = str(data_dir.resolve())


def _parse_faults(values: list[str]) -> dict[str, int]:
    from sample_shop.generator import DEFAULT_FAULTS, FAULT_KINDS

    faults: dict[str, int] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item or item == "none":
                continue
            if item == "default":
                faults.update(DEFAULT_FAULTS)
                continue
            name, _, count = item.partition("=")
            if name not in FAULT_KINDS:
                raise typer.BadParameter(
                    f"unknown fault '{name}'; known: default, none, {', '.join(FAULT_KINDS)}",
                    param_hint="--fault",
                )
            try:
                faults[name] = int(count) if count else 1
            except ValueError as err:
                raise typer.BadParameter(f"'{item}': the count must be a whole number") from err
    return faults


def _generate(
    out: Path,
    start: dt.date,
    days: int,
    orders_per_day: int,
    seed: int,
    faults: dict[str, int],
    fmt: str,
    clean: bool,
    incidents: tuple = (),
) -> dict:
    from sample_shop.generator import generate_shop

    if clean and out.exists():
        shutil.rmtree(out)
    with Progress(
        TextColumn("[bold]generating sample shop"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("generate", total=days)
        manifest = generate_shop(
            out,
            start,
            days,
            orders_per_day=orders_per_day,
            seed=seed,
            faults=faults,
            formats=fmt,
            progress=lambda done, total: progress.update(task, completed=done),
            incidents=incidents,
        )
    return manifest


@app.command()
def generate(
    start: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First day.")
    ] = dt.datetime(DEMO_START.year, DEMO_START.month, DEMO_START.day),
    days: Annotated[int, typer.Option(min=1, help="How many days of files.")] = DEMO_DAYS,
    orders_per_day: Annotated[
        int,
        typer.Option(
            min=1, help="Scale: average orders a day (traffic, service and shipments follow)."
        ),
    ] = DEMO_ORDERS_PER_DAY,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 7,
    fault: Annotated[
        list[str],
        typer.Option(
            help="Inject named faults: NAME or NAME=COUNT, repeatable or comma-separated; "
            "'default' for a few of every kind. See `kpi faults`.",
        ),
    ] = [],  # noqa: B006 - typer reads the default
    fmt: Annotated[
        str, typer.Option("--format", help="mixed (csv, parquet and jsonl), csv, parquet or jsonl.")
    ] = "mixed",
    out: Annotated[
        Path | None,
        typer.Option(help="Landing folder to write.", show_default="<data dir>/landing"),
    ] = None,
    clean: Annotated[bool, typer.Option(help="Empty the landing folder first.")] = False,
) -> None:
    """Generate a realistic sample shop's daily landing files (deterministic for a seed)."""
    settings = _settings()
    target = out or settings.landing_dir
    manifest = _generate(
        target, start.date(), days, orders_per_day, seed, _parse_faults(fault), fmt, clean
    )
    console.print(f"Wrote {days} days of files to [bold]{target}[/bold].")
    _print_faults(manifest)


@app.command()
def faults() -> None:
    """List the faults the sample generator can inject."""
    from sample_shop.generator import DEFAULT_FAULTS, FAULT_KINDS

    table = Table("fault", "what it does", "in 'default'")
    for name, text in FAULT_KINDS.items():
        table.add_row(name, text, str(DEFAULT_FAULTS.get(name, "")))
    console.print(table)


def _print_faults(manifest: dict) -> None:
    rows = manifest.get("row_faults") or []
    if not rows and not manifest.get("file_faults"):
        return
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["source"], r["fault"])] = counts.get((r["source"], r["fault"]), 0) + 1
    if counts:
        console.print(
            "Injected bad rows: "
            + ", ".join(f"{s}.{f} x{n}" for (s, f), n in sorted(counts.items()))
        )
    file_faults = manifest.get("file_faults") or []
    for f in file_faults:
        if f["fault"] == "duplicate_file":
            console.print(f"Injected file fault: {f['file']} delivered again as {f['copy']}")
        elif f["fault"] == "missing_day":
            console.print(f"Injected file fault: no {f['source']} file for {f['date']}")
    late = [f for f in file_faults if f["fault"] == "late_updates"]
    if late:
        console.print(
            f"Injected file fault: {len(late)} shipment updates delivered "
            f"{min(f['days_late'] for f in late)}-{max(f['days_late'] for f in late)} days late"
        )
    for f in manifest.get("schema_faults") or []:
        console.print(f"Injected schema fault: {f}")


def _landed_range(settings: Settings) -> tuple[dt.date, dt.date]:
    from pipelines.sensors import landed_files

    days = sorted({day for _, day, _ in landed_files(settings.landing_dir)})
    if not days:
        err_console.print(
            f"[red]No landing files under {settings.landing_dir}.[/red] "
            "Run `kpi generate` or deliver files there (see docs/sources.md)."
        )
        raise typer.Exit(2)
    return days[0], days[-1]


RECORD_HELP = (
    "Record the run in the Dagster instance at DAGSTER_HOME (default <data dir>/dagster), so "
    "`kpi dev` shows it. Off by default: Dagster writes an event per asset and day, which "
    "makes a long range much slower to start and finish."
)


def _run(settings: Settings, start: dt.date, end: dt.date, record: bool = False) -> bool:
    from pipelines.runner import prepare_dagster_home, run_nightly

    if record:
        prepare_dagster_home(settings)
    import dagster as dg

    from pipelines.definitions import build_defs

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


def _print_summary(settings: Settings) -> None:
    import duckdb

    from pipelines.ingest.report import ingest_summary, quarantine_reasons

    if not settings.build_db.exists():
        console.print("No build warehouse yet.")
        return
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        summary = ingest_summary(con)
        reasons = quarantine_reasons(con)
    table = Table(title=f"Ingestion: {settings.build_db}")
    for col in (
        "source",
        "delivery days",
        "rows loaded",
        "rows quarantined",
        "files loaded",
        "duplicates skipped",
        "files rejected",
    ):
        table.add_column(col, justify="left" if col == "source" else "right")
    for s in summary:
        span = f"{s['first_day']} .. {s['last_day']}" if s["first_day"] else "-"
        table.add_row(
            s["source"],
            span,
            f"{s['rows_loaded']:,}",
            f"{s['rows_quarantined']:,}",
            str(s["files_loaded"]),
            str(s["files_duplicate"]),
            str(s["files_rejected"]),
        )
    console.print(table)
    if reasons:
        why = Table(title="Quarantined rows by reason (`kpi quarantine` lists them)")
        for col in ("source", "column", "rule", "rows"):
            why.add_column(col, justify="right" if col == "rows" else "left")
        for source, column, check, count in reasons:
            why.add_row(source, column or "", check, str(count))
        console.print(why)


@app.command()
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
    settings = _settings()
    if date:
        first = last = date.date()
    else:
        landed = _landed_range(settings) if not (start and end) else None
        first = start.date() if start else landed[0]
        last = end.date() if end else landed[1]
    if last < first:
        raise typer.BadParameter(f"--end {last} is before --start {first}")
    ok = _run(settings, first, last, record)
    _print_summary(settings)
    raise typer.Exit(0 if ok else 1)


@app.command()
def demo(
    orders_per_day: Annotated[int, typer.Option(min=1)] = DEMO_ORDERS_PER_DAY,
    days: Annotated[int, typer.Option(min=1)] = DEMO_DAYS,
    seed: int = 7,
) -> None:
    """Generate the sample shop (with a few faults of every kind) and run it all: a backfill
    of the history as one run, then one nightly run for the last day."""
    settings = _settings()
    _reset_demo_data(settings)
    console.rule("[bold]1. Sample shop")
    manifest = _generate(
        settings.landing_dir,
        DEMO_START,
        days,
        orders_per_day,
        seed,
        _parse_faults(["default"]),
        "mixed",
        clean=True,
        incidents=_demo_incidents(DEMO_START + dt.timedelta(days=days - 1)),
    )
    _print_faults(manifest)
    for inc in manifest["incidents"]:
        console.print(
            f"Planted incident: {inc['channel']} conversion × {inc['cvr_factor']} from "
            f"{inc['start']} to {inc['end']} ({inc['label']}); the alerts should find it",
            highlight=False,
        )
    plans = settings.targets_dir / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEMO_PLAN, plans / DEMO_PLAN.name)
    console.print(
        f"Target plan: {DEMO_PLAN.name} copied to {plans}/ (the nightly run versions it)",
        highlight=False,
    )
    end = DEMO_START + dt.timedelta(days=days - 1)
    console.rule("[bold]2a. Backfill: the history as one run")
    ok = _run(settings, DEMO_START, end - dt.timedelta(days=1)) if days > 1 else True
    console.rule(f"[bold]2b. The nightly run for {end}")
    ok = _run(settings, end, end) and ok
    console.rule("[bold]3. Summary")
    _print_summary(settings)
    if ok:
        console.rule("[bold]4. The KPI tree")
        _print_tree(settings)
    console.rule("[bold]5. Publication")
    _print_publication_log(settings)
    if ok:
        console.rule("[bold]6. Pace against the 2026 plan (月中检: the mid-month check)")
        print_pace(settings, end, "month")
        console.rule("[bold]7. Catch-up")
        print_catch_up(settings, end, "month")
        console.rule("[bold]8. Alerts (the backfill's last night, then the nightly run)")
        print_alerts(settings, limit=12)
        console.print(
            f"Delivered to the default file sink {settings.data_dir / 'alerts' / 'outbox.jsonl'}"
            " (set team channels in kpi.yaml `alerts.channels`); `kpi alerts` lists them.",
            highlight=False,
        )
    console.rule("[bold]9. The board (看板)")
    _print_board(settings)
    raise typer.Exit(0 if ok else 1)


def _print_board(settings: Settings) -> None:
    from pipelines.board.page import board_path

    path = board_path(settings)
    if path.exists():
        console.print(f"The board: {path}", highlight=False, soft_wrap=True)
        console.print(
            f"Open {path.resolve().as_uri()} in a browser (or `kpi board --open`); it is drawn "
            "again after each nightly run that publishes.",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console.print(f"No board at {path}: `kpi board` draws it and says why not.")


def _demo_incidents(end: dt.date) -> tuple:
    """The shortfall the demo plants: paid search converts badly over the last week."""
    from sample_shop.model import Incident

    return (
        Incident(
            "paid_search",
            end - dt.timedelta(days=7),
            end,
            0.5,
            "a broken landing page for paid search",
        ),
    )


#: what the demo writes under the data directory (and clears before it starts)
DEMO_FOLDERS = ("landing", "warehouse", "published", "targets", "alerts")


def _reset_demo_data(settings: Settings) -> None:
    """Start the demo from a clean data directory, but never clear a real shop's data."""
    manifest = settings.landing_dir / "_sample_manifest.json"
    if (
        settings.landing_dir.exists()
        and any(settings.landing_dir.iterdir())
        and not manifest.exists()
    ):
        err_console.print(
            f"[red]{settings.data_dir} holds landing files that are not the sample shop's.[/red] "
            "The demo starts from a clean data directory: run it with `--data-dir` elsewhere."
        )
        raise typer.Exit(2)
    cleared = [settings.data_dir / f for f in DEMO_FOLDERS if (settings.data_dir / f).exists()]
    for folder in cleared:
        shutil.rmtree(folder)
    if cleared:
        console.print(
            f"Cleared the previous demo in {settings.data_dir}: "
            + ", ".join(f.name + "/" for f in cleared),
            highlight=False,
        )


def _print_tree(settings: Settings, day: dt.date | None = None) -> None:
    import duckdb

    from kpi_tree.model import default_tree
    from kpi_tree.report import TreePeriods, render_tree

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
        console.print(render_tree(default_tree(), con, periods), highlight=False, soft_wrap=True)


@app.command()
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
    _print_tree(_settings(), date.date() if date else None)


def _print_publication_log(settings: Settings, limit: int = 12) -> None:
    import duckdb

    from pipelines.publish.serving import serving_db

    path = serving_db(settings)
    if not path.exists():
        console.print("Nothing published yet.")
        return
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select unit, status, data_as_of, published_at, provisional_days, "
            "failed_expectations, run_id from publication_log "
            "order by published_at desc, unit limit ?",
            [limit],
        ).fetchall()
    table = Table(title=f"Publication log ({path})")
    for col in ("unit", "status", "data as of", "at (UTC)", "provisional days", "failed", "run"):
        table.add_column(col)
    for unit, status, as_of, at, prov, failed, run_id in rows:
        colour = "green" if status == "published" else "red"
        table.add_row(
            unit,
            f"[{colour}]{status}[/{colour}]",
            str(as_of),
            f"{at:%Y-%m-%d %H:%M}",
            str(prov),
            "\n".join(failed or [])[:400],
            run_id[:8],
        )
    console.print(table)


@app.command("serve-info")
def serve_info() -> None:
    """Where BI tools find the published data, and what each table is."""
    import duckdb

    from pipelines.publish.serving import published_dir, serving_db

    settings = _settings()
    path = serving_db(settings)
    console.print(f"Serving warehouse (read-only for BI): [bold]{path}[/bold]")
    console.print(f"Parquet copies: [bold]{published_dir(settings)}/<unit>/<table>.parquet[/bold]")
    console.print(f"Validation reports: {settings.warehouse_dir / 'quality'}")
    console.print(f"DuckDB CLI:  duckdb -readonly {path}")
    console.print(f"SQLAlchemy (Superset): duckdb:///{path}?access_mode=read_only")
    if not path.exists():
        console.print("Nothing published yet: run `kpi demo` or `kpi run`.")
        return
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "order by 1, 2"
        ).fetchall()
    listing = Table("schema", "table", "type")
    for row in tables:
        listing.add_row(*row)
    console.print(listing)
    _print_publication_log(settings)


@app.command()
def dictionary(
    markdown: Annotated[
        Path | None, typer.Option(help="Write it as a Markdown table to this file.")
    ] = None,
) -> None:
    """The data dictionary of the published tables (from the tree and the dbt docs)."""
    from kpi_tree.model import default_tree
    from pipelines.publish.dictionary import data_dictionary, to_markdown
    from pipelines.transform.project import dbt_project

    rows = data_dictionary(default_tree(), dbt_project().manifest_path)
    if markdown:
        markdown.write_text(to_markdown(rows), encoding="utf-8")
        console.print(f"Wrote {len(rows)} entries to {markdown}")
        return
    table = Table("table", "column", "description")
    for r in rows:
        table.add_row(f"{r['schema']}.{r['table']}", r["column"], r["description"])
    console.print(table)


@app.command()
def status() -> None:
    """What the build warehouse holds: rows, files and quarantine per source."""
    _print_summary(_settings())


@app.command()
def quarantine(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """List quarantined rows: file, row number, column, rule and the offending value."""
    import duckdb

    from pipelines.ingest.report import quarantine_rows

    settings = _settings()
    if not settings.build_db.exists():
        err_console.print("No build warehouse yet: run `kpi run` or `kpi demo` first.")
        raise typer.Exit(2)
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        rows = quarantine_rows(con, source, limit)
    table = Table("source", "file", "row", "column", "rule", "value")
    for r in rows:
        table.add_row(*(str(v) if v is not None else "" for v in r))
    console.print(table)


@app.command()
def dev(port: int = 3000) -> None:
    """Start the Dagster UI on this project (dagster dev -w workspace.yaml)."""
    from pipelines.runner import prepare_dagster_home

    prepare_dagster_home(_settings())
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(workspace), "-p", str(port)]
    raise typer.Exit(subprocess.call(cmd, cwd=workspace.parent))


if __name__ == "__main__":  # pragma: no cover
    app()
