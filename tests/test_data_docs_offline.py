"""The quality reports open anywhere: Great Expectations' data docs load nothing from the
network (their CDN assets are vendored, expectations/offline.py), their links are relative,
and with the network off they render styled in a real browser."""

import base64
import datetime as dt
import hashlib
import re
from pathlib import Path

import great_expectations as gx
import pandas as pd

import expectations.runner as runner
from expectations.offline import ASSETS, VENDORED
from expectations.suites import Gate

DAY = dt.date(2025, 3, 4)
#: the two assets GX's templates pin by a subresource-integrity hash
#: (great_expectations/render/view/templates/js_script_imports.j2)
PINNED = {
    "popper.js-1.12.9/popper.min.js": (
        "sha384-ApNbgh9B+Y1QKtv3Rn7W3mgPxhU9K/ScQsAP7hUibX39j7fakFPskvXusvfa0b4Q"
    ),
    "bootstrap-4.3.1/bootstrap.min.js": (
        "sha384-JjSmVgyd0p3pXB1rRibZUAYoIIy6OrQ6VrjIEaFf/nJGzIxFDsf4x0xIM+B07jRM"
    ),
}


#: where the browser tests keep their screenshots (tests/test_board.py too)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _failing_gate() -> Gate:
    frame = pd.DataFrame(
        {
            "grain": ["day"] * 2,
            "period_start": [dt.date(2025, 3, 3), DAY],
            "dimension": ["total"] * 2,
            "member": ["(all)"] * 2,
            "orders": [10, -1],
        }
    )
    return Gate(
        unit="toy",
        frames={"mart": frame},
        expectations={
            "mart": [gx.expectations.ExpectColumnValuesToBeBetween(column="orders", min_value=0)]
        },
    )


def _loads(page: Path) -> list[str]:
    """Every URL the page loads (scripts, stylesheets, images), remote or not."""
    html = page.read_text(encoding="utf-8")
    return re.findall(r'<(?:script|img)[^>]*\ssrc="([^"]+)"', html) + re.findall(
        r'<link[^>]*\shref="([^"]+)"', html
    )


def _site(tmp_path: Path) -> tuple[Path, Path]:
    verdict = runner.run_gate(_failing_gate(), tmp_path / "warehouse", "run-1", DAY, DAY)
    assert not verdict.success
    page = tmp_path / verdict.report
    index = next((tmp_path / "warehouse").rglob("local_site/index.html"))
    return page, index


def test_the_vendored_pinned_assets_are_the_cdns_bytes():
    for path, integrity in PINNED.items():
        digest = hashlib.sha384((VENDORED / path).read_bytes()).digest()
        assert "sha384-" + base64.b64encode(digest).decode() == integrity
    # every vendored asset the map names is there
    assert all((VENDORED / p).is_file() for p in ASSETS.values() if p)


def test_a_report_loads_only_local_files_by_relative_links(tmp_path):
    page, index = _site(tmp_path)
    for html in (page, index):
        urls = _loads(html)
        assert urls, html  # the pages do load stylesheets and scripts
        for url in urls:
            assert not url.startswith(("http:", "https:", "//", "file:", "/")), (html, url)
            assert (html.parent / url).resolve().is_file(), (html, url)


def test_a_report_renders_styled_with_the_network_off(tmp_path, browser):
    page, _index = _site(tmp_path)
    context = browser.new_context(offline=True)
    remote: list[str] = []
    failed: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            remote.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on("requestfailed", lambda req: failed.append(req.url))
    tab.goto(page.resolve().as_uri())
    tab.wait_for_load_state("load")
    assert remote == [] and failed == []
    # Bootstrap's stylesheet applied: its font stack and the container's padding
    font = tab.evaluate("getComputedStyle(document.body).fontFamily")
    assert "-apple-system" in font or "Segoe UI" in font, font
    sheets = tab.evaluate(
        "Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(l => !!l.sheet)"
    )
    assert len(sheets) >= 3 and all(sheets)  # Bootstrap, bootstrap-table, Font Awesome, ...
    # a Bootstrap table: its cells padded by the stylesheet (0 without it)
    assert tab.evaluate("parseFloat(getComputedStyle(document.querySelector('td')).padding)") > 0
    # jQuery and Bootstrap's scripts ran
    assert tab.evaluate("typeof window.jQuery === 'function' && !!jQuery.fn.tooltip")
    ARTIFACTS.mkdir(exist_ok=True)  # kept after the run, beside the board's screenshots
    shot = ARTIFACTS / "data-docs-offline.png"
    tab.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    context.close()
