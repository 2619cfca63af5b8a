"""`kpi`: the one documented way in for everything a user runs by hand.

One module per command group; this one only assembles them:

- ``generate``: `kpi generate`, `kpi faults` (the sample shop)
- ``demo``: `kpi demo`
- ``run``: `kpi run`
- ``status``: `kpi status`, `kpi quarantine` (the build warehouse)
- ``check``: `kpi check` (one export file against its mapping, writing nothing)
- ``init``: `kpi init` (a first kpi.yaml from the shop's exports)
- ``tree``: `kpi tree`
- ``serving``: `kpi serve-info`, `kpi dictionary` (the published data, for BI)
- ``targets``: `kpi targets plan|versions|show|catch-up`
- ``gaps``: `kpi gaps list|accept` (missing source days)
- ``alerts``: `kpi alerts`
- ``board``: `kpi board`
- ``serve``: `kpi serve` (the board and the quality reports on a local port)
- ``dev``: `kpi dev` (the Dagster UI)
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markup import escape

from pipelines.cli import (
    alerts,
    board,
    check,
    demo,
    dev,
    gaps,
    generate,
    init,
    run,
    serve,
    serving,
    status,
    targets,
    tree,
)
from pipelines.cli.console import err_console
from pipelines.i18n import _, activate, shop_locale
from pipelines.settings import DATA_DIR_ENV, ConfigError

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
    # Dagster's notes that an API we call is in beta are for its developers, not the user
    warnings.filterwarnings("ignore", message=r".*is currently in beta.*")
    if data_dir is not None:
        # one setting for every location: each command reads it when it loads the settings
        os.environ[DATA_DIR_ENV] = str(data_dir.resolve())


app.command("generate")(generate.generate)
app.command("faults")(generate.faults)
app.command("run")(run.run)
app.command("demo")(demo.demo)
app.command("tree")(tree.tree)
app.command("serve-info")(serving.serve_info)
app.command("dictionary")(serving.dictionary)
app.command("status")(status.status)
app.command("quarantine")(status.quarantine)
app.command("check")(check.check)
app.command("init")(init.init)
app.add_typer(targets.app, name="targets")
app.add_typer(gaps.app, name="gaps")
app.command("alerts")(alerts.alerts)
app.command("board")(board.board)
app.command("serve")(serve.serve)
app.command("dev")(dev.dev)


def _translated(command: click.Command) -> click.Command:
    """``command`` with its help, and its options' and subcommands', in the active language
    (Typer reads them from the code, in English; the catalogue has them: pipelines/i18n.py)."""
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if text:
            setattr(command, attribute, _(text))
    for param in command.params:
        if getattr(param, "help", None):
            param.help = _(param.help)
    for sub in getattr(command, "commands", {}).values():
        _translated(sub)
    return command


def cli() -> None:
    """The `kpi` command: the app in the shop's language (kpi.yaml ``locale``), with a config
    file that cannot be used reported as what it is (the file, each key's place, what to do)
    and exit status 2, not as a traceback."""
    activate(shop_locale())
    try:
        _translated(typer.main.get_command(app))(prog_name="kpi")
    except ConfigError as err:
        err_console.print(
            "[red]" + escape(_("The config cannot be used.")) + "[/red]\n" + escape(str(err)),
            highlight=False,
        )
        raise SystemExit(2) from None
    except SystemExit as done:
        # a command that ran the pipeline has loaded the fast paths; the others (and `--help`)
        # do not import them, nor what they import, only to exit
        fast = sys.modules.get("pipelines.fastpaths")
        if fast is not None:
            fast.exit_without_teardown(done.code)
        raise
