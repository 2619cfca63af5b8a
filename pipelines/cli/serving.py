"""`kpi serve-info`, `kpi dictionary`: where BI finds the published data, and what it means."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer
from rich.table import Table

from kpi_tree.availability import summary
from kpi_tree.model import default_tree
from pipelines.cli.console import console
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


def print_publication_log(settings: Settings, limit: int = 12) -> None:
    """The newest entries of the publication log: published, held back or skipped, and why."""
    path = serving_db(settings)
    if not path.exists():
        console.print("Nothing published yet.")
        return
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select unit, status, data_as_of, published_at, provisional_days, "
            "failed_expectations || coalesce(notes, []), not_available, run_id "
            "from publication_log order by published_at desc, unit limit ?",
            [limit],
        ).fetchall()
    table = Table(title=f"Publication log ({path})")
    columns = (
        "unit", "status", "data as of", "at (UTC)", "provisional days", "failed / notes",
        "not available", "run",
    )  # fmt: skip
    for col in columns:
        table.add_column(col)
    for unit, status, as_of, at, prov, failed, missing, run_id in rows:
        colour = {"published": "green", "skipped": "yellow"}.get(status, "red")
        table.add_row(
            unit,
            f"[{colour}]{status}[/{colour}]",
            str(as_of),
            f"{at:%Y-%m-%d %H:%M}",
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
            help="Build the serving file again for this data folder (after moving or copying "
            "it: its views name the Parquet by absolute path)."
        ),
    ] = False,
) -> None:
    """Where BI tools find the published data, what each table is, and anything wrong with
    the serving file (a foreign writer holding it, a publish that did not finish)."""
    settings = load_settings()
    path = serving_db(settings)
    if rebuild and current_night(settings) is not None:
        assemble_serving(settings, report=console.print)
        console.print(f"Built {path} again for {published_dir(settings)}.")
    console.print(f"Serving warehouse (read-only for BI): [bold]{path}[/bold]")
    console.print(
        f"  in DuckDB's storage format {settings.serving.storage_version} (kpi.yaml "
        "serving.storage_version; v1.0.0 opens in DuckDB 1.0 and later)"
    )
    console.print(f"Parquet copies: [bold]{published_dir(settings)}/<unit>/<table>.parquet[/bold]")
    console.print(f"Validation reports: {settings.warehouse_dir / 'quality'}")
    console.print(f"DuckDB CLI:  duckdb -readonly {path}")
    console.print(
        f"SQLAlchemy (Superset): duckdb:///{path}  engine parameters: "
        '{"connect_args": {"read_only": true}}'
    )
    if not path.exists():
        console.print("Nothing published yet: run `kpi demo` or `kpi run`.")
        return
    night = describe_night(settings)
    if night:
        console.print(f"Night served: {night['night']} (run {night['run_id'][:8]})")
    if elsewhere := reads_elsewhere(settings):
        console.print(
            f"[red]The serving file reads {elsewhere}, not this data folder's Parquet[/red] "
            "(the folder was moved or copied): run `kpi serve-info --rebuild`."
        )
    for holder in writers_of(path):
        console.print(
            f"[red]{path.name} is open read-write by {holder}[/red]: no one else can open it "
            "until it lets go; BI tools must open it read-only. The next publish replaces it."
        )
    if wal_of(path).exists():
        console.print(
            f"[red]{wal_of(path).name} beside it is a foreign writer's[/red] (the pipeline "
            "never writes the live file); the next publish sets it aside."
        )
    if journal := interrupted(settings):
        console.print(
            f"[yellow]A publish of run {journal['run_id'][:8]} started at "
            f"{journal['started_at'][:19]} has not finished[/yellow] (running, or killed: the "
            "next run repairs it and logs what happened)."
        )
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = con.execute(
                "select table_schema, table_name, table_type from information_schema.tables "
                "order by 1, 2"
            ).fetchall()
    except duckdb.Error as err:
        console.print(f"[red]The serving file cannot be opened now:[/red] {err}", highlight=False)
        raise typer.Exit(1) from None
    listing = Table("schema", "table", "type")
    for row in tables:
        listing.add_row(*row)
    console.print(listing)
    print_publication_log(settings)


def dictionary(
    markdown: Annotated[
        Path | None, typer.Option(help="Write it as a Markdown table to this file.")
    ] = None,
) -> None:
    """The data dictionary of the published tables (from the tree and the dbt docs)."""
    # dagster-dbt prepares the dbt project: imported by the one command that reads its
    # manifest, not by every start of `kpi`
    from pipelines.transform.project import dbt_project

    rows = data_dictionary(default_tree(), dbt_project().manifest_path, load_settings().currency)
    if markdown:
        markdown.write_text(to_markdown(rows), encoding="utf-8")
        console.print(f"Wrote {len(rows)} entries to {markdown}")
        return
    table = Table("table", "column", "description")
    for r in rows:
        table.add_row(f"{r['schema']}.{r['table']}", r["column"], r["description"])
    console.print(table)
