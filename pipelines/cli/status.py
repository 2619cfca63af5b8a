"""`kpi status`, `kpi quarantine`: what the build warehouse holds, and the rows it set aside."""

from __future__ import annotations

from typing import Annotated

import duckdb
import typer
from rich import box
from rich.table import Table

from pipelines.cli import choices
from pipelines.cli.console import console, err_console
from pipelines.ingest.report import ingest_summary, quarantine_reasons, quarantine_rows
from pipelines.settings import Settings, load_settings

SUMMARY_COLUMNS = (
    "source",
    "delivery days",
    "rows loaded",
    "rows quarantined",
    "files loaded",
    "duplicates skipped",
    "files rejected",
)
#: the same, short, for a terminal narrower than the table (80 columns)
NARROW_COLUMNS = ("source", "days", "rows", "quarantined", "files", "dup.", "rejected")
#: the width the table needs with its long headings
WIDE = 110


def print_summary(settings: Settings) -> None:
    """Rows, files and quarantine per source, and the quarantined rows by reason."""
    if not settings.build_db.exists():
        console.print("No build warehouse yet.")
        return
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.IOException:  # held by another program: the run's error named it
        err_console.print("The build warehouse is held by another program: no summary.")
        return
    with con:
        summary = ingest_summary(con)
        reasons = quarantine_reasons(con)
    # a terminal narrower than the table gets short headings, the span on two lines and no
    # column rules, and every number whole (a truncated number is a wrong number)
    narrow = console.width < WIDE
    rows = [
        (
            s["source"],
            (
                f"{s['first_day']}\n{s['last_day']}"
                if narrow
                else f"{s['first_day']} .. {s['last_day']}"
            )
            if s["first_day"]
            else "-",
            f"{s['rows_loaded']:,}",
            f"{s['rows_quarantined']:,}",
            str(s["files_loaded"]),
            str(s["files_duplicate"]),
            str(s["files_rejected"]),
        )
        for s in summary
    ]
    table = Table(
        title=f"Ingestion: {settings.build_db}",
        box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
    )
    for i, col in enumerate(NARROW_COLUMNS if narrow else SUMMARY_COLUMNS):
        widest = max([len(line) for r in rows for line in r[i].splitlines()] + [1])
        table.add_column(
            col, justify="left" if i == 0 else "right", min_width=max(widest, len(col))
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if reasons:
        why = Table(title="Quarantined rows by reason (`kpi quarantine` lists them)")
        for col in ("source", "column", "rule", "rows"):
            why.add_column(col, justify="right" if col == "rows" else "left")
        for source, column, check, count in reasons:
            why.add_row(source, column or "", check, str(count))
        console.print(why)


def status() -> None:
    """What the build warehouse holds: rows, files and quarantine per source."""
    print_summary(load_settings())


def quarantine(
    source: Annotated[
        str | None, typer.Option(help="Only this source.", callback=choices.source)
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """List quarantined rows: file, row number, column, rule and the offending value."""
    settings = load_settings()
    if not settings.build_db.exists():
        err_console.print("No build warehouse yet: run `kpi run` or `kpi demo` first.")
        raise typer.Exit(2)
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        rows = quarantine_rows(con, source, limit)
    table = Table("source", "file", "row", "column", "rule", "value")
    for r in rows:
        table.add_row(*(str(v) if v is not None else "" for v in r))
    console.print(table)
