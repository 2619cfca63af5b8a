"""The CLI's consoles: wide, unwrapped tables when the output is a log or CI, not a terminal."""

from rich.console import Console

console = Console()
if not console.is_terminal:  # logs and CI: wide enough for the tables, no wrapping
    console = Console(width=130)
err_console = Console(stderr=True, width=None if console.is_terminal else 130)
