"""Where a reader finds the board and the quality reports: on disk, and through `kpi serve`.

The quality reports (Great Expectations' data docs) are recorded by their path relative to
the data directory (``warehouse/quality/gx/…/unit_marketing-days.html``), so a publication
log stays right when the data moves to another machine or folder. `kpi serve` serves the data
directory's board and reports under the same paths, so with ``serve.base_url`` set (where
readers reach it) a report's link is ``base_url`` + its path, and the board's
``base_url`` + ``warehouse/board.html``: what the chat messages' button and Dagster's links
use. Without it, links are the files' own (``file://``), which open on the machine that has
them.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path, PurePosixPath

from pipelines.settings import Settings

#: the board, relative to the data directory (pipelines.board.page draws it there)
BOARD = PurePosixPath("warehouse", "board.html")


def report_file(settings: Settings, report: str | None) -> Path | None:
    """The report's file: ``report`` as the log has it, relative to the data directory (or,
    from a log written before links were relative, a ``file://`` URL)."""
    if not report:
        return None
    if report.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(report).path))
    return settings.data_dir / report


def relative_report(settings: Settings, path: Path) -> str:
    """``path`` (a report under the data directory) as the log records it."""
    return path.resolve().relative_to(settings.data_dir.resolve()).as_posix()


def report_url(settings: Settings, report: str | None) -> str | None:
    """Where a browser opens the report: through `kpi serve` when ``serve.base_url`` is set,
    else the file itself."""
    path = report_file(settings, report)
    if path is None:
        return None
    base = settings.serve.base_url
    if base:
        try:
            return base + urllib.parse.quote(relative_report(settings, path))
        except ValueError:  # a report outside the data directory: only its file
            pass
    return path.resolve().as_uri()


def report_link(settings: Settings, report: str | None) -> str | None:
    """The report for a message a reader gets elsewhere: its URL through `kpi serve` when
    there is one, else its path relative to the data directory (a ``file://`` URL of this
    machine would be wrong on theirs)."""
    path = report_file(settings, report)
    if path is None:
        return None
    if settings.serve.base_url:
        return report_url(settings, report)
    try:
        return relative_report(settings, path)
    except ValueError:
        return str(path)


def report_href(settings: Settings, report: str | None, page_dir: Path) -> str | None:
    """The report as a link from a page in ``page_dir`` (the board): a web address as it is; a
    file relative to the page (quoted), so the link works from the file and through `kpi serve`
    alike, and holds when the data directory moves."""
    if report and urllib.parse.urlsplit(report).scheme in ("http", "https"):
        return report
    path = report_file(settings, report)
    if path is None:
        return None
    return urllib.parse.quote(PurePosixPath(os.path.relpath(path, page_dir)).as_posix())


def board_url(settings: Settings) -> str | None:
    """The board through `kpi serve` (``serve.base_url``), or None: a chat message's button
    needs an address its reader's phone can open, which a file on this machine is not."""
    base = settings.serve.base_url
    return base + str(BOARD) if base else None
