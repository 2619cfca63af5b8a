"""`kpi generate`, `kpi faults`: the sample shop's landing files and the faults it can plant."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.cli.console import console
from pipelines.i18n import N_, _
from pipelines.settings import load_settings

if TYPE_CHECKING:
    from sample_shop.model import Incident

#: the sample shop's default range, 2025-01-01 .. 2026-06-15: a full year of history to plan
#: 2026 from (kpi_tree/plans/sample_shop_2026.yaml), then five and a half months to pace,
#: ending on the mid-month check day (月中检)
SAMPLE_START = dt.date(2025, 1, 1)
SAMPLE_DAYS = 531
SAMPLE_ORDERS_PER_DAY = 200
SAMPLE_SEED = 7


def parse_faults(values: list[str]) -> dict[str, int]:
    """``--fault`` values (NAME, NAME=COUNT, comma-separated, `default`, `none`) as counts."""
    # the generator is imported when it is used: `kpi` loads every command's module
    from sample_shop import DEFAULT_FAULTS, FAULT_KINDS

    faults: dict[str, int] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item or item == "none":
                continue
            if item == "default":
                faults.update(DEFAULT_FAULTS)
                continue
            name, _sep, count = item.partition("=")
            if name not in FAULT_KINDS:
                raise typer.BadParameter(
                    _("unknown fault '{name}'; known: {known}").format(
                        name=name, known=", ".join(["default", "none", *FAULT_KINDS])
                    ),
                    param_hint="--fault",
                )
            try:
                faults[name] = int(count) if count else 1
            except ValueError as err:
                raise typer.BadParameter(
                    _("'{item}': the count must be a whole number").format(item=item)
                ) from err
    return faults


def generate_with_progress(
    out: Path,
    start: dt.date,
    days: int,
    orders_per_day: int,
    seed: int,
    faults: dict[str, int],
    fmt: str,
    clean: bool,
    incidents: tuple[Incident, ...] = (),
) -> dict:
    """Write the sample shop's files to ``out`` with a progress bar; its manifest."""
    from sample_shop import generate_shop

    if clean and out.exists():
        shutil.rmtree(out)
    with Progress(
        TextColumn("[bold]" + escape(_("generating sample shop"))),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(escape(_("days"))),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("generate", total=days)
        return generate_shop(
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


def print_faults(manifest: dict) -> None:
    """The faults a generation planted, from its manifest."""
    from kpi_tree.model import default_tree
    from pipelines.alerts.words import source_name

    rows = manifest.get("row_faults") or []
    if not rows and not manifest.get("file_faults"):
        return
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["source"], r["fault"])] = counts.get((r["source"], r["fault"]), 0) + 1
    if counts:
        console.print(
            _("Injected bad rows: {faults}").format(
                faults=_(", ").join(f"{s}.{f} x{n}" for (s, f), n in sorted(counts.items()))
            ),
            highlight=False,
        )
    file_faults = manifest.get("file_faults") or []
    for f in file_faults:
        if f["fault"] == "duplicate_file":
            console.print(
                _("Injected file fault: {file} delivered again as {copy}").format(
                    file=f["file"], copy=f["copy"]
                ),
                highlight=False,
            )
        elif f["fault"] == "missing_day":
            console.print(
                _("Injected file fault: no {source} file for {day}").format(
                    source=source_name(default_tree(), f["source"]), day=f["date"]
                ),
                highlight=False,
            )
    late = [f for f in file_faults if f["fault"] == "late_updates"]
    if late:
        console.print(
            _("Injected file fault: {n} shipment updates delivered {low}-{high} days late").format(
                n=len(late),
                low=min(f["days_late"] for f in late),
                high=max(f["days_late"] for f in late),
            ),
            highlight=False,
        )
    for f in manifest.get("schema_faults") or []:
        console.print(_("Injected schema fault: {fault}").format(fault=f), highlight=False)


def generate(
    start: Annotated[
        dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="First day.")
    ] = dt.datetime(SAMPLE_START.year, SAMPLE_START.month, SAMPLE_START.day),
    days: Annotated[int, typer.Option(min=1, help="How many days of files.")] = SAMPLE_DAYS,
    orders_per_day: Annotated[
        int,
        typer.Option(
            min=1, help="Scale: average orders a day (traffic, service and shipments follow)."
        ),
    ] = SAMPLE_ORDERS_PER_DAY,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = SAMPLE_SEED,
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
    target = out or load_settings().landing_dir
    manifest = generate_with_progress(
        target, start.date(), days, orders_per_day, seed, parse_faults(fault), fmt, clean
    )
    console.print(
        escape(_("Wrote {days} days of files to {folder}.").format(days=days, folder=target)),
        highlight=False,
    )
    print_faults(manifest)


#: what each fault does, keyed by its id, for the catalogue: the sample shop's own words
#: (sample_shop.faults.FAULT_KINDS, which does not depend on the pipelines), said again here so
#: that `kpi faults` says them in the shop's language (a test keeps the two the same)
FAULT_WORDS: dict[str, str] = {
    "missing_value": N_(
        "a required value left empty (orders.customer_id, shipments.carrier, "
        "order_items.product_id, conversations.agent_id, ad_spend.campaign, sessions.landing_page)"
    ),
    "bad_type": N_(
        "an unparseable value in a numeric or timestamp column, CSV/JSONL files only "
        "(orders.amount '129,90x', conversations.messages 'three', shipments.shipped_at "
        "'yesterday', order_items.quantity 'two', ad_spend.impressions '12.3k')"
    ),
    "negative_amount": N_(
        "a negative amount (orders.amount, shipments.refund_amount, ad_spend.spend)"
    ),
    "unknown_category": N_(
        "a value outside an enumeration (orders.channel 'tv', shipments.carrier "
        "'pigeon', conversations.topic 'complaint', sessions.channel 'tv', ad_spend.channel 'tv', "
        "orders.payment_method 'crypto')"
    ),
    "duplicate_key": N_("an exact copy of a row appended to its file (the copy is the bad row)"),
    "clicks_over_impressions": N_("an ad_spend row with clicks > impressions"),
    "time_travel": N_(
        "conversations.first_response_at before started_at, or "
        "shipments.delivered_at before shipped_at"
    ),
    "out_of_range": N_("conversations.satisfaction 7, or order_items.quantity 0 (line_amount 0)"),
    "amount_mismatch": N_("order_items.line_amount != quantity x unit_price (10.00 too much)"),
    "duplicate_file": N_(
        "a day's file delivered again, byte for byte, as "
        "<source>_<next day>_resend.<ext> (picked up with the next day)"
    ),
    "missing_day": N_("a day without any file for one source (sessions, then ad_spend, ...)"),
    "late_updates": N_(
        "shipment updates delivered 2-5 days after their updated_at day, at the end "
        "of that later day's file (updated_at unchanged)"
    ),
    "missing_column": N_("schema fault (tests): a required column dropped from one file"),
    "retyped_column": N_(
        "schema fault (tests): a numeric column written as non-numeric text in "
        "one file (Parquet when a source is Parquet)"
    ),
}


def faults() -> None:
    """List the faults the sample generator can inject."""
    from sample_shop import DEFAULT_FAULTS, FAULT_KINDS

    table = Table(_("fault"), _("what it does"), _("in 'default'"))
    for name, text in FAULT_KINDS.items():
        shown = _(FAULT_WORDS[name]) if FAULT_WORDS.get(name) == text else text
        table.add_row(name, escape(shown), str(DEFAULT_FAULTS.get(name, "")))
    console.print(table)
