"""`kpi gaps`: the days a source is missing, and accepting one (expectations/gaps.py).

A missing source day holds back the units whose KPIs read the source, night after night,
until its file lands and the day is re-run, or an operator accepts it here with a reason.
An accepted day publishes with those KPIs unknown (null) and their periods flagged
incomplete; the acceptance is logged (who, when, why) in the warehouse folder.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import duckdb
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from expectations.gaps import accept as record_acceptance
from expectations.gaps import read_accepted, record_path
from kpi_tree.model import Tree, default_tree
from pipelines.alerts.words import joined, kpi_name, source_name
from pipelines.cli import choices
from pipelines.cli.console import console, err_console
from pipelines.cli.serving import business_time
from pipelines.i18n import N_, _
from pipelines.queries import table_exists
from pipelines.settings import Settings, load_settings

app = typer.Typer(help="Missing source days: list them, accept one.", no_args_is_help=True)


def _gaps(settings: Settings) -> list[tuple[str, dt.date, list[str]]]:
    """(source, day, ids of the KPIs unknown that day) of every missing source day the build
    found."""
    if not settings.build_db.exists():
        return []
    try:
        con = duckdb.connect(str(settings.build_db), read_only=True)
    except duckdb.IOException as err:
        err_console.print(
            "[red]"
            + escape(_("The build warehouse is busy"))
            + "[/red] "
            + escape(
                _("({error}): a run is writing it; try again when it ends.").format(error=err)
            ),
            highlight=False,
        )
        raise typer.Exit(1) from None
    with con:
        if not table_exists(con, "kpi", "fct_source_gaps"):
            return []
        rows = con.execute(
            "select source, date_day, list(kpi_id order by kpi_id) "
            "from kpi.fct_source_gaps group by all order by date_day, source"
        ).fetchall()
    return [(source, day, list(kpis)) for source, day, kpis in rows]


def _kpis(tree: Tree, ids: list[str]) -> str:
    """The KPIs by their names in the reader's language."""
    return joined([kpi_name(tree.nodes[k]) if k in tree.nodes else k for k in ids])


def list_gaps() -> None:
    """The missing source days, each accepted (by whom, why) or still holding units back."""
    settings = load_settings()
    tree = default_tree()
    accepted = {(g.source, g.day): g for g in read_accepted(settings.warehouse_dir)}
    gaps = _gaps(settings)
    if not gaps:
        console.print(_("No missing source days."))
        return
    table = Table(
        box=box.SIMPLE_HEAD,
        caption=_("Times in business time ({zone}).").format(zone=settings.business_timezone),
    )
    for column in (N_("source"), N_("day"), N_("unknown KPIs"), N_("status")):
        table.add_column(_(column))
    for source, day, kpis in gaps:
        gap = accepted.get((source, day))
        status = (
            escape(
                _("accepted by {who} {when}: {reason}").format(
                    who=gap.accepted_by,
                    when=f"{business_time(settings, gap.accepted_at):%Y-%m-%d %H:%M}",
                    reason=gap.reason,
                )
            )
            if gap
            else "[red]" + escape(_("holding back")) + "[/red]"
        )
        table.add_row(
            escape(source_name(tree, source)), day.isoformat(), escape(_kpis(tree, kpis)), status
        )
    console.print(table)


def accept(
    source: Annotated[
        str, typer.Argument(help="The source that is missing.", callback=choices.source)
    ],
    day: Annotated[dt.datetime, typer.Argument(help="The business day.", formats=["%Y-%m-%d"])],
    reason: Annotated[
        str, typer.Option(help="Why the day will not be repaired (logged with your name).")
    ],
) -> None:
    """Accept a missing source day: the units it holds back publish at the next run, with the
    KPIs that read the source unknown (null) that day and their weeks and months flagged
    incomplete. Logged (who, when, why)."""
    settings = load_settings()
    tree = default_tree()
    when = day.date()
    if not reason.strip():
        err_console.print(
            "[red]" + escape(_("--reason must say why the day will not be repaired.")) + "[/red]"
        )
        raise typer.Exit(2)
    gaps = {(s, d): kpis for s, d, kpis in _gaps(settings)}
    name = source_name(tree, source)
    if (source, when) not in gaps:
        known = joined([f"{source_name(tree, s)} {d}" for s, d in gaps]) or _("none")
        err_console.print(
            "[red]"
            + escape(_("{source} is not missing on {day}").format(source=name, day=when))
            + "[/red] "
            + escape(
                _("in the build warehouse (missing days: {known}). Nothing was recorded.").format(
                    known=known
                )
            ),
            highlight=False,
        )
        raise typer.Exit(1)
    gap = record_acceptance(settings.warehouse_dir, source, when, reason)
    console.print(
        escape(
            _(
                "Accepted: {source} missing on {day} ({reason}), by {who}; logged in {log}. At "
                "the next `kpi run` the units it held back publish, with {kpis} unknown that day."
            ).format(
                source=name,
                day=when,
                reason=gap.reason,
                who=gap.accepted_by,
                log=record_path(settings.warehouse_dir),
                kpis=_kpis(tree, gaps[(source, when)]),
            )
        ),
        highlight=False,
    )


app.command("list")(list_gaps)
app.command("accept")(accept)
