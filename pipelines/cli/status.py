"""`kpi status`, `kpi quarantine`: what the build warehouse holds, and the rows it set aside."""

from __future__ import annotations

from typing import Annotated

import duckdb
import typer
from rich import box
from rich.cells import cell_len
from rich.markup import escape
from rich.table import Table

from kpi_tree.model import default_tree
from pipelines.alerts.words import source_name
from pipelines.cli import choices
from pipelines.cli.console import console, err_console
from pipelines.i18n import N_, _, lang
from pipelines.ingest.landing import empty_notice, source_folders, stray_files, stray_notice
from pipelines.settings import Settings, load_settings

SUMMARY_COLUMNS = (
    N_("source"),
    N_("delivery days"),
    N_("rows loaded"),
    N_("rows quarantined"),
    N_("files loaded"),
    N_("duplicates skipped"),
    N_("files rejected"),
)
#: the same, short, for a terminal narrower than the table (80 columns)
NARROW_COLUMNS = (
    N_("source"),
    N_("days"),
    N_("rows"),
    N_("quarantined"),
    N_("files"),
    N_("dup."),
    N_("rejected"),
)
#: the width the table needs with its long headings
WIDE = 110
#: the things not loaded listed one by one; the rest are counted
MAX_NOT_LOADED = 20


def not_loaded(settings: Settings, empty: list[tuple]) -> list[str]:
    """What was delivered and is not loaded, each with what to do: what the landing folder
    holds that no source reads, and the files without rows (``empty``: the ledger's)."""
    strays = stray_files(settings.landing_dir, source_folders(settings))
    return [stray_notice(s) for s in strays] + [
        empty_notice(file, source, day) for source, day, file in empty
    ]


def print_not_loaded(lines: list[str]) -> None:
    if not lines:
        return
    console.print(
        "[yellow]" + escape(_("Not loaded ({n}):").format(n=len(lines))) + "[/yellow]",
        highlight=False,
    )
    for line in lines[:MAX_NOT_LOADED]:
        console.print("  " + escape(line), highlight=False, soft_wrap=True)
    if len(lines) > MAX_NOT_LOADED:
        console.print(
            "  " + escape(_("… and {n} more").format(n=len(lines) - MAX_NOT_LOADED)),
            highlight=False,
        )


def _source(tree, source: str) -> str:
    """A source as the tables name it: in Chinese by its name, in English by its id, which is
    what `--source` takes (its English name is a phrase: "customer-service conversations")."""
    return source_name(tree, source) if lang() == "zh" else source


def print_summary(settings: Settings) -> None:
    """Rows, files and quarantine per source, the quarantined rows by reason, and what was
    delivered but not loaded."""
    from pipelines.ingest.report import empty_files, ingest_summary, quarantine_reasons

    if not settings.build_db.exists():
        console.print(_("No build warehouse yet."))
        print_not_loaded(not_loaded(settings, []))
        return
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.IOException:  # held by another program: the run's error named it
        err_console.print(_("The build warehouse is held by another program: no summary."))
        print_not_loaded(not_loaded(settings, []))
        return
    with con:
        summary = ingest_summary(con)
        reasons = quarantine_reasons(con)
        empty = empty_files(con)
    # a terminal narrower than the table gets short headings, the span on two lines and no
    # column rules, and every number whole (a truncated number is a wrong number)
    narrow = console.width < WIDE
    tree = default_tree()
    rows = [
        (
            _source(tree, s["source"]),
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
        title=_("Ingestion: {path}").format(path=settings.build_db),
        box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD,
    )
    for i, col in enumerate(_(c) for c in (NARROW_COLUMNS if narrow else SUMMARY_COLUMNS)):
        widest = max([cell_len(line) for r in rows for line in r[i].splitlines()] + [1])
        table.add_column(
            col, justify="left" if i == 0 else "right", min_width=max(widest, cell_len(col))
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if reasons:
        why = Table(title=_("Quarantined rows by reason (`kpi quarantine` lists them)"))
        for col in (_("source"), _("column"), _("rule")):
            why.add_column(col)
        why.add_column(_("rows"), justify="right")
        for source, column, check, count in reasons:
            why.add_row(_source(tree, source), column or "", check, f"{count:,}")
        console.print(why)
    print_not_loaded(not_loaded(settings, empty))


def status() -> None:
    """What the build warehouse holds: rows, files and quarantine per source; and what was
    delivered but not loaded."""
    print_summary(load_settings())


def quarantine(
    source: Annotated[
        str | None, typer.Option(help=N_("Only this source."), callback=choices.source)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help=N_("At most this many rows."))] = 20,
) -> None:
    """List quarantined rows: file, row number, column, rule and the offending value."""
    from pipelines.ingest.report import quarantine_rows

    settings = load_settings()
    if not settings.build_db.exists():
        err_console.print(_("No build warehouse yet: run `kpi run` or `kpi demo` first."))
        raise typer.Exit(2)
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        rows = quarantine_rows(con, source, limit)
    tree = default_tree()
    table = Table(_("source"), _("file"), _("row"), _("column"), _("rule"), _("value"))
    for source, *rest in rows:
        table.add_row(_source(tree, source), *(str(v) if v is not None else "" for v in rest))
    console.print(table)
