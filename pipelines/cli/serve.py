"""`kpi serve`: the board and the quality reports on a local port.

The board (``warehouse/board.html``) and Great Expectations' data docs (under
``warehouse/quality/``) are files; a browser opens them from disk, but the Dagster UI's links
(an http page) and a chat message's button cannot point at a file. `kpi serve` serves the two
under the same paths they have in the data directory, so a report recorded as
``warehouse/quality/gx/…/unit_marketing-days.html`` (pipelines/links.py) is at
``<base_url>warehouse/quality/gx/…``, and ``/`` opens the board. Nothing else of the data
directory is served: not the landing files, not the warehouses, not the logs.
"""

from __future__ import annotations

import datetime as dt
import functools
import posixpath
import urllib.parse
import webbrowser
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pipelines.cli.console import console, fail
from pipelines.i18n import N_, SOURCE_LOCALE, _, active, use
from pipelines.links import BOARD
from pipelines.settings import Settings, load_settings

#: what is served, relative to the data directory: the board, and the data docs' sites
QUALITY = "warehouse/quality/"


def served(path: str) -> bool:
    """Whether the URL path (relative to the data directory) is one `kpi serve` serves."""
    path = posixpath.normpath(path.lstrip("/"))
    if path.startswith("..") or "\\" in path:
        return False
    return path == str(BOARD) or (path.startswith(QUALITY) and "/data_docs/" in path)


class _Handler(SimpleHTTPRequestHandler):
    """Files of the data directory that :func:`served` allows; ``/`` is the board."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path in ("", "/"):
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", "/" + str(BOARD))
            self.end_headers()
            return
        if not served(path):
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if not served(path):
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        super().do_HEAD()

    def list_directory(self, path):  # no folder listings: only the files themselves
        self.send_error(HTTPStatus.NOT_FOUND)
        return None

    #: the language and the business zone of the log lines (set by :func:`make_server`: each
    #: request is answered in a thread of its own, which does not inherit the CLI's locale)
    locale = SOURCE_LOCALE
    zone: dt.tzinfo = dt.UTC

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line a request: when (business time), who, what, and what became of it."""
        status = int(code) if isinstance(code, int) else None  # (HTTPStatus is an int)
        meaning = REQUEST_OUTCOME.get(status) if status is not None else None
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with use(self.locale):
            line = _("{time} {client} {method} {path}: {status} {outcome}").format(
                time=f"{dt.datetime.now(self.zone):%H:%M:%S}",
                client=self.address_string(),
                method=self.command or "-",
                path=path,
                status=status if status is not None else code,
                outcome=_(meaning) if meaning else HTTPStatus(status).phrase if status else "",
            )
        # one line a request, however long its path: a log is read (and grepped) by line
        console.print(f"[dim]{escape(line.rstrip())}[/dim]", highlight=False, soft_wrap=True)

    def log_error(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        # an error answer (send_error) is said by log_request's line; other errors (a request
        # that cannot be read, a timeout) are said as the server words them
        if not format.startswith("code %d"):
            console.print(
                f"[dim]{escape(self.address_string())} {escape(format % args)}[/dim]",
                highlight=False,
            )

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's signature
        console.print(f"[dim]{escape(f'{self.address_string()} {format % args}')}[/dim]")


#: what became of a request, as its log line says it (other statuses: HTTP's own phrase)
REQUEST_OUTCOME = {
    200: N_("sent"),
    302: N_("sent on to the board"),
    304: N_("unchanged since the browser's copy"),
    404: N_("not served"),
}


def make_server(settings: Settings, host: str, port: int) -> ThreadingHTTPServer:
    """The server of ``settings``' data directory on ``host``:``port`` (0: any free port); its
    log lines in the active language and the business time zone."""
    handler = type("Handler", (_Handler,), {"locale": active(), "zone": settings.tz})
    return ThreadingHTTPServer(
        (host, port), functools.partial(handler, directory=str(settings.data_dir))
    )


def serve(
    port: Annotated[
        int | None, typer.Option(help=N_("The port (default: kpi.yaml serve.port, 8765)."))
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(help=N_("The address to listen on (default: kpi.yaml serve.host, local)")),
    ] = None,
    open_: Annotated[
        bool, typer.Option("--open", help=N_("Open the board in the default browser."))
    ] = False,
) -> None:
    """Serve the board and the quality reports on a local port, so that the Dagster UI's
    links and the alerts' button open them (kpi.yaml serve.base_url says where readers
    reach it)."""
    settings = load_settings()
    host = host or settings.serve.host
    port = settings.serve.port if port is None else port
    try:
        server = make_server(settings, host, port)
    except OSError as err:
        raise fail(
            _("Cannot listen on {host}:{port}: {error}. Choose another with --port.").format(
                host=host, port=port, error=err.strerror or err
            )
        ) from None
    address = f"http://{host}:{server.server_address[1]}/"
    board = Path(settings.data_dir, BOARD)
    console.print(_("Serving the board: {url}").format(url=address + str(BOARD)), highlight=False)
    console.print(
        _("and the quality reports under {url}").format(url=address + QUALITY), highlight=False
    )
    if not board.exists():
        console.print(_("No board yet at {path}: `kpi board` draws it.").format(path=board))
    if settings.serve.base_url:
        console.print(
            _("Readers reach it at {url} (kpi.yaml serve.base_url).").format(
                url=settings.serve.base_url
            ),
            highlight=False,
        )
    console.print(_("Ctrl+C stops it."))
    if open_:
        webbrowser.open(address + str(BOARD))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
