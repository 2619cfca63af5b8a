"""`kpi serve-info`, `kpi dictionary`: where BI finds the published data, and what it means."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.markup import escape
from rich.table import Table

from kpi_tree.availability import summary
from kpi_tree.model import default_tree
from pipelines.alerts.words import word
from pipelines.cli.console import console
from pipelines.i18n import N_, _
from pipelines.publish.dictionary import data_dictionary, to_markdown
from pipelines.publish.holders import wal_of, writers_of
from pipelines.publish.night import interrupted
from pipelines.publish.serving import (
    assemble_serving,
    current_night,
    describe_night,
    published_dir,
    reads_elsewhere,
    serving_db,
)
from pipelines.settings import Settings, load_settings

#: a unit's status in the publication log, as a reader says it
PUBLICATION_STATUS = {
    "published": N_("published"),
    "held_back": N_("held back"),
    "skipped": N_("skipped"),
    "failed": N_("failed"),
}


def business_time(settings: Settings, at: dt.datetime) -> dt.datetime:
    """``at`` (UTC when it says no zone, as the logs keep it) in the shop's business time."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(settings.tz)


def _say(text: str, colour: str | None = None) -> None:
    """One line of `kpi serve-info`, as written (a path is not markup), in ``colour``."""
    line = escape(text)
    console.print(f"[{colour}]{line}[/{colour}]" if colour else line, highlight=False)


def print_publication_log(settings: Settings, limit: int = 12) -> None:
    """The newest entries of the publication log: published, held back or skipped, and why."""
    path = serving_db(settings)
    if not path.exists():
        console.print(_("Nothing published yet."))
        return
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select unit, status, data_as_of, published_at, provisional_days, "
            "failed_expectations || coalesce(notes, []), not_available, run_id "
            "from publication_log order by published_at desc, unit limit ?",
            [limit],
        ).fetchall()
    table = Table(title=_("Publication log ({path})").format(path=path))
    columns = (
        _("unit"), _("status"), _("data as of"),
        _("at ({zone})").format(zone=settings.business_timezone), _("provisional days"),
        _("failed / notes"), _("not available"), _("run"),
    )  # fmt: skip
    for col in columns:
        table.add_column(col)
    for unit, status, as_of, at, prov, failed, missing, run_id in rows:
        colour = {"published": "green", "skipped": "yellow"}.get(status, "red")
        table.add_row(
            unit,
            f"[{colour}]{escape(word(PUBLICATION_STATUS, status))}[/{colour}]",
            str(as_of),
            f"{business_time(settings, at):%Y-%m-%d %H:%M}",
            str(prov),
            "\n".join(failed or [])[:400],
            summary(dict(m.split(": ", 1) for m in missing or [] if ": " in m))[:300],
            run_id[:8],
        )
    console.print(table)


def serve_info(
    rebuild: Annotated[
        bool,
        typer.Option(
            help=N_(
                "Build the serving file again for this data folder (after moving or copying "
                "it: its views name the Parquet by absolute path)."
            )
        ),
    ] = False,
) -> None:
    """Where BI tools find the published data, what each table is, and anything wrong with
    the serving file (a foreign writer holding it, a publish that did not finish)."""
    settings = load_settings()
    path = serving_db(settings)
    if rebuild and current_night(settings) is not None:
        assemble_serving(settings, report=console.print, force=True)
        console.print(
            _("Built {path} again for {folder}.").format(path=path, folder=published_dir(settings))
        )
    say = _say
    say(_("Serving warehouse (read-only for BI): {path}").format(path=path))
    say(
        "  "
        + _(
            "in DuckDB's storage format {version} (kpi.yaml serving.storage_version; v1.0.0 "
            "opens in DuckDB 1.0 and later)"
        ).format(version=settings.serving.storage_version)
    )
    say(
        _("Parquet copies: {path}").format(path=f"{published_dir(settings)}/<unit>/<table>.parquet")
    )
    say(_("Validation reports: {path}").format(path=settings.warehouse_dir / "quality"))
    say(_("DuckDB CLI: {command}").format(command=f"duckdb -readonly {path}"))
    say(
        _("SQLAlchemy (Superset): {url}  engine parameters: {parameters}").format(
            url=f"duckdb:///{path}", parameters='{"connect_args": {"read_only": true}}'
        )
    )
    if not path.exists():
        say(_("Nothing published yet: run `kpi demo` or `kpi run`."))
        return
    night = describe_night(settings)
    if night:
        say(
            _("Night served: {night} (run {run})").format(
                night=night["night"], run=night["run_id"][:8]
            )
        )
    if elsewhere := reads_elsewhere(settings):
        say(
            _(
                "The serving file reads {elsewhere}, not this data folder's Parquet (the folder "
                "was moved or copied): run `kpi serve-info --rebuild`."
            ).format(elsewhere=elsewhere),
            "red",
        )
    for holder in writers_of(path):
        say(
            _(
                "{file} is open read-write by {holder}: no one else can open it until it lets "
                "go; BI tools must open it read-only. The next publish replaces it."
            ).format(file=path.name, holder=holder),
            "red",
        )
    if wal_of(path).exists():
        say(
            _(
                "{file} beside it is a foreign writer's (the pipeline never writes the live "
                "file); the next publish sets it aside."
            ).format(file=wal_of(path).name),
            "red",
        )
    if journal := interrupted(settings):
        started = business_time(settings, dt.datetime.fromisoformat(journal["started_at"]))
        say(
            _(
                "A publish of run {run} started at {at} has not finished (running, or killed: "
                "the next run repairs it and logs what happened)."
            ).format(run=journal["run_id"][:8], at=f"{started:%Y-%m-%d %H:%M:%S}"),
            "yellow",
        )
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute(
                "select table_schema, table_name, table_type from information_schema.tables "
                "order by 1, 2"
            ).fetchall()
    except duckdb.Error as err:
        say(_("The serving file cannot be opened now: {error}").format(error=err), "red")
        raise typer.Exit(1) from None
    listing = Table(_("schema"), _("table"), _("type"))
    for row in tables:
        listing.add_row(*row)
    console.print(listing)
    print_publication_log(settings)


def dictionary(
    markdown: Annotated[
        Path | None, typer.Option(help=N_("Write it as a Markdown table to this file."))
    ] = None,
) -> None:
    """The data dictionary of the published tables (from the tree and the dbt docs)."""
    # dagster-dbt prepares the dbt project: imported by the one command that reads its
    # manifest, not by every start of `kpi`
    from pipelines.transform.project import dbt_project

    rows = data_dictionary(default_tree(), dbt_project().manifest_path, load_settings().currency)
    if markdown:
        markdown.write_text(to_markdown(rows), encoding="utf-8")
        console.print(_("Wrote {n} entries to {file}").format(n=len(rows), file=markdown))
        return
    table = Table(_("table"), _("column"), _("description"))
    for r in rows:
        table.add_row(f"{r['schema']}.{r['table']}", r["column"], r["description"])
    console.print(table)
