"""Data docs that open anywhere: Great Expectations' pages with their assets beside them.

GX writes its data-docs pages to load Bootstrap, jQuery, bootstrap-table, Font Awesome and
more from a dozen CDNs (unpkg, jsDelivr, cdnjs, code.jquery.com, …): blank with the network
off, slow or blocked in mainland China. The same files, from the npm registry at the exact
versions GX's templates name, are kept in ``expectations/data_docs_assets/`` (their licences
beside them; the two GX pins by a subresource-integrity hash are byte for byte the CDN's).
After each build, :func:`localise` copies them into the site (``static/vendor/``) and
rewrites the pages just built so that every stylesheet, script and image is a relative path:

* a CDN asset of :data:`ASSETS` -> its vendored copy;
* Vega (charts, which only profiling pages draw; the gates profile nothing) -> a small local
  script that says a chart is not drawn offline, and the dark-mode sheet -> nothing (the pages
  are drawn in their light colours);
* GX's logo from its S3 bucket (with a tracking query) -> the copy GX ships in the site;
* any other remote asset -> removed, and reported;
* a local link that misses (GX writes a validation page's favicon one folder short) -> the
  site's file.

Links (``<a href>``) to GX's website stay links; nothing is fetched for them.
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

VENDORED = Path(__file__).with_name("data_docs_assets")
#: where in a data-docs site the vendored files go
SITE_VENDOR = PurePosixPath("static", "vendor")

#: a CDN asset GX's templates name -> its vendored copy (under data_docs_assets/), or None
#: for one the pages do without
ASSETS: dict[str, str | None] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/bootstrap.min.js"
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/popper.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    # GX's pages name 1.19.0's stylesheet of the extension beside 1.19.1's script: one copy
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (  # noqa: E501
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (  # noqa: E501
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (  # noqa: E501
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (  # noqa: E501
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (  # noqa: E501
        "bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "no-charts.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": None,
    "https://cdn.jsdelivr.net/npm/vega-embed@6": None,
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": None,  # noqa: E501
}
#: the attributes that tie a tag to its CDN: a local file is its own origin
_CDN_ATTRIBUTES = ("integrity", "crossorigin")


def _remote(url: str | None) -> bool:
    if not url:
        return False
    return url.startswith("//") or url.split(":", 1)[0].lower() in ("http", "https")


class _Assets(HTMLParser):
    """The tags of a page that load something: scripts, stylesheets and icons, images."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        #: (the tag as written, its name, the attribute with the URL, its attributes)
        self.tags: list[tuple[str, str, str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        raw = self.get_starttag_text() or ""
        if tag in ("script", "img") and values.get("src"):
            self.tags.append((raw, tag, "src", values))
        elif tag == "link" and values.get("href"):
            rel = (values.get("rel") or "").lower()
            if any(r in rel for r in ("stylesheet", "icon", "preload", "modulepreload")):
                self.tags.append((raw, tag, "href", values))


def _tag(name: str, values: dict[str, str | None], closed: bool) -> str:
    attrs = "".join(
        f' {k}="{v}"' if v is not None else f" {k}"
        for k, v in values.items()
        if k not in _CDN_ATTRIBUTES
    )
    return f"<{name}{attrs}{' /' if closed else ''}>"


def install(site: Path) -> None:
    """Copy the vendored files into the site's ``static/vendor`` (only what changed)."""
    target = site / SITE_VENDOR
    for source in VENDORED.rglob("*"):
        if source.is_dir() or source.suffix == ".md":
            continue
        dest = target / source.relative_to(VENDORED)
        if dest.exists() and filecmp.cmp(source, dest, shallow=False):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


def _local_image(site: Path, url: str) -> str | None:
    """A remote image GX also ships in the site (its logo), by its file name."""
    name = PurePosixPath(url.split("?", 1)[0]).name
    found = site / "static" / "images" / name
    return f"static/images/{name}" if name and found.exists() else None


def _local_fix(site: Path, page: Path, url: str) -> str | None:
    """A relative link of ``page`` that names no file, repointed at the site's file of the
    same ``static/…`` path; None when the link is right or has no such file."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if not path or path.startswith("/") or (page.parent / path).exists() or "static/" not in path:
        return None
    inside = "static/" + path.split("static/", 1)[1]
    if not (site / inside).exists():
        return None
    return str(PurePosixPath(os.path.relpath(site, page.parent)) / inside)


def rewrite(html: str, page: Path, site: Path) -> tuple[str, list[str]]:
    """``html`` (the page at ``page`` in ``site``) with every remote asset local; the remote
    assets it had no copy of (removed)."""
    parser = _Assets()
    parser.feed(html)
    up = PurePosixPath(os.path.relpath(site, page.parent))
    dropped = []
    for raw, name, attribute, values in parser.tags:
        url = str(values[attribute])
        if not _remote(url):
            # GX writes the favicon of a validation page one folder short of the site's
            # static/: a local link that misses is pointed at the site's copy
            fixed = _local_fix(site, page, url)
            if fixed is not None:
                values = {**values, attribute: fixed}
                html = html.replace(raw, _tag(name, values, raw.rstrip().endswith("/>")), 1)
            continue
        if url in ASSETS:
            local = ASSETS[url]
            if local is None:
                replacement = ""
            else:
                values = {**values, attribute: str(up / SITE_VENDOR / local)}
                replacement = _tag(name, values, closed=raw.rstrip().endswith("/>"))
        elif name == "img" and (image := _local_image(site, url)):
            values = {**values, attribute: str(up / image)}
            replacement = _tag(name, values, closed=raw.rstrip().endswith("/>"))
        else:
            dropped.append(url)
            replacement = ""
        if replacement == "" and name == "script":
            # the tag and its (empty) body: `<script src=…></script>`
            html = html.replace(raw + "</script>", "", 1)
        html = html.replace(raw, replacement, 1)
    return html, dropped


def localise(site: Path, pages: list[Path]) -> list[str]:
    """Make ``pages`` of the data-docs ``site`` load nothing from the network; the remote
    assets removed for want of a copy (logged)."""
    install(site)
    dropped: list[str] = []
    for page in pages:
        if not page.exists():
            continue
        html = page.read_text(encoding="utf-8")
        new, lost = rewrite(html, page, site)
        if new != html:
            tmp = page.with_suffix(".tmp")
            tmp.write_text(new, encoding="utf-8")
            os.replace(tmp, page)
        dropped += lost
    for url in sorted(set(dropped)):
        log.warning("data docs: removed %s, which has no local copy", url)
    return sorted(set(dropped))
