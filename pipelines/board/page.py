"""Write the board: one self-contained HTML file next to the serving warehouse.

The page embeds its data (JSON, with the number formats of ``kpi_tree/formats.py``), its
strings in each language (``static/catalogue.json``: the board's message catalogue), its
styles and its scripts (``static/``, our own code): it opens from disk with no network, draws
every chart as SVG and writes its downloads (CSV, .xlsx) itself.

The page names what it was drawn from: the serving file (inode, modification time, size: the
file is replaced, never written in place), the night it served and main's newest versions
(:func:`pipelines.publish.serving.served_stamp`). :func:`redraw_if_stale` draws it again only
when that changed; the nightly run calls it once at its end (``pipelines/runner.py``), and the
board sensor after runs launched by the Dagster daemon (``pipelines/board/sensor.py``).
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
from pathlib import Path

import duckdb

from kpi_tree.model import Tree, default_tree
from pipelines.board.data import BoardError, collect
from pipelines.publish.serving import served_stamp, serving_db
from pipelines.settings import Settings

STATIC = Path(__file__).with_name("static")
#: the page's script, in this order: the number formats, the workbook writer, then the board
SCRIPTS = ("format.js", "xlsx.js", "board.js")
#: every string the page shows, in each of its languages (en, zh)
CATALOGUE = "catalogue.json"
BOARD_FILE = "board.html"

TEMPLATE = """<!DOCTYPE html>
<html lang="{html_lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="kpi-tree-warehouse board">
<meta name="kpi-serving-file" content="{stamp}">
<title>{title} · {as_of}</title>
<style>
{css}
</style>
</head>
<body>
<header id="header"><h1>{title}</h1></header>
<main>
<section id="summary" aria-label="{summary}">
  <div id="headline" class="headline"></div>
  <div id="team-strip" class="team-strip"></div>
  <details id="problems" class="problems" open><summary></summary><ol class="list"></ol></details>
</section>
<section id="tree-section">
  <div class="section-head">
    <h2 id="tree-title"></h2>
    <span id="tree-hint" class="muted small"></span>
    <span id="tree-tools" class="tools"></span>
  </div>
  <div id="tree-head" class="tree-head" aria-hidden="true"></div>
  <div id="tree" role="tree"></div>
  <div id="legend" class="legend"></div>
</section>
<div id="notices"></div>
<section id="alerts"></section>
<section id="teams"></section>
<section id="units"></section>
<section id="people"></section>
</main>
<aside id="detail" aria-live="polite" hidden></aside>
<footer id="footer"></footer>
<noscript>{noscript}</noscript>
<script id="board-data" type="application/json">{data}</script>
<script id="board-catalogue" type="application/json">{catalogue}</script>
<script>
{js}
</script>
</body>
</html>
"""


def board_path(settings: Settings) -> Path:
    return serving_db(settings).with_name(BOARD_FILE)


#: a JSON string (kept as it is) or a non-finite number Python writes (NaN, Infinity)
_NON_FINITE = re.compile(r'"(?:[^"\\]|\\.)*"|-?Infinity|NaN')


def to_json(data: dict) -> str:
    """The page's data as JSON; NaN and infinities (which JSON lacks) become null. Written as
    Python writes them, then replaced outside strings: cheaper than walking the data first."""
    text = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    if "NaN" in text or "Infinity" in text:
        text = _NON_FINITE.sub(lambda m: m[0] if m[0].startswith('"') else "null", text)
    return text


def catalogue() -> dict[str, dict[str, str]]:
    """The board's strings, ``{"en": {key: text}, "zh": {key: text}}``."""
    return json.loads((STATIC / CATALOGUE).read_text(encoding="utf-8"))


def _script_safe(text: str) -> str:
    """JSON that cannot close the script element it is in."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render(data: dict, stamp: str = "") -> str:
    """The page for ``data``; ``stamp`` names what it was drawn from. The page's
    own words before its script runs (title, no-script notice) are in the shop's language."""
    words = catalogue()
    lang = data.get("lang") if data.get("lang") in words else "zh"
    return TEMPLATE.format(
        html_lang="zh-CN" if lang == "zh" else "en",
        title=html.escape(words[lang]["title"]),
        noscript=html.escape(words[lang]["noscript"]),
        summary=html.escape(words[lang]["summary"]),
        as_of=html.escape(str(data.get("as_of", ""))),
        stamp=html.escape(stamp),
        css=(STATIC / "board.css").read_text(encoding="utf-8"),
        js="\n".join((STATIC / name).read_text(encoding="utf-8") for name in SCRIPTS),
        data=_script_safe(to_json(data)),
        catalogue=_script_safe(json.dumps(words, ensure_ascii=False, separators=(",", ":"))),
    )


def write_board(settings: Settings, tree: Tree | None = None, out: Path | None = None) -> Path:
    """Draw the board from the serving warehouse into ``out`` (default: beside kpi.duckdb),
    replacing any earlier page atomically."""
    source = serving_db(settings)
    if not source.exists():
        raise BoardError(
            f"no serving warehouse at {source}: nothing published yet "
            "(run `kpi run` or `kpi demo` first)"
        )
    stamp = served_stamp(settings)  # before reading: a night served meanwhile is drawn next time
    with duckdb.connect(str(source), read_only=True) as con:
        data = collect(con, tree or default_tree(), settings)
    target = out or board_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(render(data, stamp), encoding="utf-8")
    os.replace(tmp, target)
    return target


_STAMP = re.compile(r'<meta name="kpi-serving-file" content="([^"]*)">')


def drawn_from(page: Path) -> str | None:
    """The stamp of what ``page`` was drawn from (None: no page, or no stamp)."""
    try:
        with page.open(encoding="utf-8") as fh:
            head = fh.read(2048)
    except OSError:
        return None
    found = _STAMP.search(head)
    return html.unescape(found[1]) if found and found[1] else None


def redraw_if_stale(settings: Settings) -> Path | None:
    """Draw the board unless it already shows what the serving file serves; the page, when
    drawn.

    A night serves a new night folder, a new log and new alerts seconds apart: the board is
    drawn once, after the run, not after each.
    Never fatal: a board that cannot be drawn is logged, and the publications stand.
    """
    source = serving_db(settings)
    if not source.exists():
        return None
    if drawn_from(board_path(settings)) == served_stamp(settings):
        return None
    try:
        return write_board(settings)
    except BoardError as exc:
        logging.getLogger(__name__).info("board not drawn: %s", exc)
    except Exception:  # noqa: BLE001 - the publications stand whatever the page does
        logging.getLogger(__name__).exception("board not drawn")
    return None
