"""`kpi demo`: the sample shop generated with a few faults of every kind, and run it all."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli.alerts import print_alerts
from pipelines.cli.board import print_board_location
from pipelines.cli.console import console, err_console
from pipelines.cli.generate import (
    SAMPLE_DAYS,
    SAMPLE_ORDERS_PER_DAY,
    SAMPLE_SEED,
    SAMPLE_START,
    generate_with_progress,
    parse_faults,
    print_faults,
)
from pipelines.cli.run import run_range
from pipelines.cli.serving import print_publication_log
from pipelines.cli.status import print_summary
from pipelines.cli.targets import print_catch_up, print_pace
from pipelines.cli.tree import print_tree
from pipelines.settings import Settings, load_settings
from sample_shop import MANIFEST_NAME
from sample_shop.model import Incident

#: the sample shop's target plan, versioned by the nightly run from the drop folder
SAMPLE_PLAN = Path(__file__).resolve().parents[2] / "kpi_tree" / "plans" / "sample_shop_2026.yaml"
#: what the demo writes under the data directory (and clears before it starts)
DEMO_FOLDERS = ("landing", "warehouse", "published", "targets", "alerts")
#: the shortfall the demo plants over the shop's last days, for the alerts to find
INCIDENT_DAYS = 8


def demo(
    orders_per_day: Annotated[int, typer.Option(min=1)] = SAMPLE_ORDERS_PER_DAY,
    days: Annotated[int, typer.Option(min=1)] = SAMPLE_DAYS,
    seed: int = SAMPLE_SEED,
) -> None:
    """Generate the sample shop (with a few faults of every kind) and run it all: a backfill
    of the history as one run, then one nightly run for the last day."""
    settings = load_settings()
    reset_demo_data(settings)
    console.rule("[bold]1. Sample shop")
    manifest = generate_with_progress(
        settings.landing_dir,
        SAMPLE_START,
        days,
        orders_per_day,
        seed,
        parse_faults(["default"]),
        "mixed",
        clean=True,
        incidents=demo_incidents(SAMPLE_START, days),
    )
    print_faults(manifest)
    for inc in manifest["incidents"]:
        console.print(
            f"Planted incident: {inc['channel']} conversion × {inc['cvr_factor']} from "
            f"{inc['start']} to {inc['end']} ({inc['label']}); the alerts should find it",
            highlight=False,
        )
    plans = settings.targets_dir / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_PLAN, plans / SAMPLE_PLAN.name)
    console.print(
        f"Target plan: {SAMPLE_PLAN.name} copied to {plans}/ (the nightly run versions it)",
        highlight=False,
    )
    start, end = shop_range(manifest)
    console.rule("[bold]2a. Backfill: the history as one run")
    ok = run_range(settings, start, end - dt.timedelta(days=1)) if end > start else True
    console.rule(f"[bold]2b. The nightly run for {end}")
    ok = run_range(settings, end, end) and ok
    console.rule("[bold]3. Summary")
    print_summary(settings)
    if ok:
        console.rule("[bold]4. The KPI tree")
        print_tree(settings)
    console.rule("[bold]5. Publication")
    print_publication_log(settings)
    if ok:
        check = (
            " (月中检: the mid-month check)" if end.day == settings.targets.mid_month_day else ""
        )
        console.rule(f"[bold]6. Pace against the plan on {end}{check}")
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
    print_board_location(settings)
    raise typer.Exit(0 if ok else 1)


def shop_range(manifest: dict) -> tuple[dt.date, dt.date]:
    """The first and last day the generated shop's files cover, from its manifest."""
    parameters = manifest["parameters"]
    return dt.date.fromisoformat(parameters["start"]), dt.date.fromisoformat(parameters["end"])


def demo_incidents(start: dt.date, days: int) -> tuple[Incident, ...]:
    """The shortfall the demo plants: paid search converts badly over the shop's last days."""
    end = start + dt.timedelta(days=days - 1)
    return (
        Incident(
            "paid_search",
            max(start, end - dt.timedelta(days=INCIDENT_DAYS - 1)),
            end,
            0.5,
            "a broken landing page for paid search",
        ),
    )


def reset_demo_data(settings: Settings) -> None:
    """Start the demo from a clean data directory, but never clear a real shop's data."""
    manifest = settings.landing_dir / MANIFEST_NAME
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
