"""`kpi demo`: the sample shop generated with a few faults of every kind, and run it all."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pipelines.cli.console import console, fail
from pipelines.cli.generate import (
    SAMPLE_DAYS,
    SAMPLE_ORDERS_PER_DAY,
    SAMPLE_SEED,
    SAMPLE_START,
    generate_with_progress,
    parse_faults,
    print_faults,
)
from pipelines.i18n import N_, _, lang
from pipelines.settings import Settings, load_settings

if TYPE_CHECKING:
    from sample_shop.model import Incident

#: the sample shop's target plan, versioned by the nightly run from the drop folder
SAMPLE_PLAN = Path(__file__).resolve().parents[2] / "kpi_tree" / "plans" / "sample_shop_2026.yaml"
#: what the demo writes under the data directory (and clears before it starts)
DEMO_FOLDERS = ("landing", "warehouse", "published", "targets", "alerts")
#: the shortfall the demo plants over the shop's last days, for the alerts to find
INCIDENT_DAYS = 8


def demo(
    orders_per_day: Annotated[
        int, typer.Option(min=1, help=N_("Scale: orders per day on average."))
    ] = SAMPLE_ORDERS_PER_DAY,
    days: Annotated[int, typer.Option(min=1, help=N_("How many days of files."))] = SAMPLE_DAYS,
    seed: Annotated[int, typer.Option(help=N_("Same seed, same files."))] = SAMPLE_SEED,
) -> None:
    """Generate the sample shop (with a few faults of every kind) and run it all: a backfill
    of the history as one run, then one nightly run for the last day."""
    # imported here: `kpi` loads every command's module, and these bring the pipeline's
    from expectations.gaps import accept as record_acceptance
    from pipelines.cli.alerts import print_alerts
    from pipelines.cli.board import print_board_location
    from pipelines.cli.run import run_range
    from pipelines.cli.serving import print_publication_log
    from pipelines.cli.status import print_summary
    from pipelines.cli.targets import print_catch_up, print_pace
    from pipelines.cli.tree import print_tree

    settings = load_settings()
    reset_demo_data(settings)
    _rule("1. " + _("Sample shop"))
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
        incident = inc["label"]  # marked where it is planted (demo_incidents)
        console.print(
            _(
                "Planted incident: {channel} conversion × {factor} from {start} to {end} "
                "({label}); the alerts should find it"
            ).format(
                channel=settings.vocabulary.label("channel", inc["channel"], lang()),
                factor=inc["cvr_factor"],
                start=inc["start"],
                end=inc["end"],
                label=_(incident),
            ),
            highlight=False,
        )
    plans = settings.targets_dir / "plans"
    plans.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLE_PLAN, plans / SAMPLE_PLAN.name)
    console.print(
        _("Target plan: {plan} copied to {folder}/ (the nightly run versions it)").format(
            plan=SAMPLE_PLAN.name, folder=plans
        ),
        highlight=False,
    )
    start, end = shop_range(manifest)
    _rule("2a. " + _("Backfill: the history as one run"))
    ok = run_range(settings, start, end - dt.timedelta(days=1)) if end > start else True
    # the sample's lost traffic day holds its teams back until repaired or accepted (issue
    # 41): the demo shop accepts it, as an operator would with `kpi gaps accept`
    for fault in manifest["file_faults"]:
        if fault["fault"] == "missing_day":
            record_acceptance(
                settings.warehouse_dir,
                fault["source"],
                dt.date.fromisoformat(fault["date"]),
                "the demo: the file is lost",
            )
            console.print(
                _(
                    "Accepted: {source} is missing on {day} and will not be repaired "
                    "(`kpi gaps accept`); its KPIs stay unknown that day."
                ).format(source=fault["source"], day=fault["date"]),
                highlight=False,
            )
    _rule("2b. " + _("The nightly run for {day}").format(day=end))
    ok = run_range(settings, end, end) and ok
    _rule("3. " + _("Summary"))
    print_summary(settings)
    if ok:
        _rule("4. " + _("The KPI tree"))
        print_tree(settings)
    _rule("5. " + _("Publication"))
    print_publication_log(settings)
    if ok:
        check = (
            " (" + _("the mid-month check") + ")"
            if end.day == settings.targets.mid_month_day
            else ""
        )
        _rule("6. " + _("Pace against the plan on {day}").format(day=end) + check)
        print_pace(settings, end, "month")
        _rule("7. " + _("Catch-up"))
        print_catch_up(settings, end, "month")
        _rule("8. " + _("Alerts of the nightly run"))
        _print_top_digest(settings, end)
        print_alerts(settings, day=end, limit=12)
        console.print(
            _(
                "Delivered to the default file sink {path} (set team channels in kpi.yaml "
                "`alerts.channels`); `kpi alerts` lists them."
            ).format(path=settings.data_dir / "alerts" / "outbox.jsonl"),
            highlight=False,
        )
    _rule("9. " + _("The board"))
    print_board_location(settings)
    raise typer.Exit(0 if ok else 1)


def _print_top_digest(settings: Settings, day: dt.date) -> None:
    """The night's digest of the tree's top team (the shop's own figures: every KPI short or
    at risk, alerted today or before), shown before the alerts: a KPI still short is not
    alerted again each night, so the alerts alone would not show it."""
    from kpi_tree.model import default_tree
    from pipelines.alerts.digest import digest_log

    top = next(iter(default_tree().teams))
    sent = [d for d in digest_log(settings) if d["team"] == top and d["day"] == day.isoformat()]
    if sent:
        console.print(f"[bold]{escape(sent[-1]['title'])}[/bold]", highlight=False)
        console.print(escape(sent[-1]["text"]), highlight=False)


def _rule(title: str) -> None:
    console.rule(f"[bold]{escape(title)}")


def shop_range(manifest: dict) -> tuple[dt.date, dt.date]:
    """The first and last day the generated shop's files cover, from its manifest."""
    parameters = manifest["parameters"]
    return dt.date.fromisoformat(parameters["start"]), dt.date.fromisoformat(parameters["end"])


def demo_incidents(start: dt.date, days: int) -> tuple[Incident, ...]:
    """The shortfall the demo plants: paid search converts badly over the shop's last days."""
    from sample_shop.model import Incident

    end = start + dt.timedelta(days=days - 1)
    return (
        Incident(
            "paid_search",
            max(start, end - dt.timedelta(days=INCIDENT_DAYS - 1)),
            end,
            0.5,
            N_("a broken landing page for paid search"),
        ),
    )


def reset_demo_data(settings: Settings) -> None:
    """Start the demo from a clean data directory, but never clear a real shop's data."""
    from sample_shop import MANIFEST_NAME

    manifest = settings.landing_dir / MANIFEST_NAME
    if (
        settings.landing_dir.exists()
        and any(settings.landing_dir.iterdir())
        and not manifest.exists()
    ):
        raise fail(
            _(
                "{folder} holds landing files that are not the sample shop's. The demo starts "
                "from a clean data directory: run it with `--data-dir` elsewhere."
            ).format(folder=settings.data_dir)
        )
    cleared = [settings.data_dir / f for f in DEMO_FOLDERS if (settings.data_dir / f).exists()]
    for folder in cleared:
        shutil.rmtree(folder)
    if cleared:
        console.print(
            _("Cleared the previous demo in {folder}: {folders}").format(
                folder=settings.data_dir, folders=_(", ").join(f.name + "/" for f in cleared)
            ),
            highlight=False,
        )
