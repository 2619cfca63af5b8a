"""The CLI's consoles: wide, unwrapped tables when the output is a log or CI, not a terminal."""

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
if not console.is_terminal:  # logs and CI: wide enough for the tables, no wrapping
    console = Console(width=160)
err_console = Console(stderr=True, width=None if console.is_terminal else 160)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Say ``message`` (one clear line, in red, on stderr) and give the exit to raise: every
    failure of a command ends so, not with a traceback (``raise fail(...)``)."""
    err_console.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(code)
