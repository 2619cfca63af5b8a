"""`kpi board`: draw the board (看板) from the serving warehouse, and open it."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.console import console, err_console
from pipelines.i18n import _
from pipelines.settings import Settings, load_settings


def board(
    out: Annotated[
        Path | None,
        typer.Option(help="Write the page here (default: board.html beside kpi.duckdb)."),
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
) -> None:
    """Draw the board: the KPI tree, every team and person against target, today's alerts.
    One self-contained HTML file (no network needed); it is drawn again after each nightly run
    that publishes."""
    # the board's data and page are imported when it is drawn: `kpi` loads every command
    from pipelines.board.data import BoardError
    from pipelines.board.page import write_board

    try:
        path = write_board(load_settings(), out=out)
    except BoardError as exc:
        err_console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from None
    console.print(_("The board: {path}").format(path=path), highlight=False, soft_wrap=True)
    console.print(
        _("Open it in a browser: {url}").format(url=path.resolve().as_uri()),
        highlight=False,
        soft_wrap=True,
    )
    if open_ and not webbrowser.open(path.resolve().as_uri()):
        err_console.print(_("No browser found to open it; open the file above by hand."))


def print_board_location(settings: Settings) -> None:
    """Where the nightly run drew the board, or that it did not."""
    from pipelines.board.page import board_path

    path = board_path(settings)
    if path.exists():
        console.print(_("The board: {path}").format(path=path), highlight=False, soft_wrap=True)
        console.print(
            _(
                "Open {url} in a browser (or `kpi board --open`, or `kpi serve`); it is drawn "
                "again after each nightly run that publishes."
            ).format(url=path.resolve().as_uri()),
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console.print(
            _("No board at {path}: `kpi board` draws it and says why not.").format(path=path)
        )
