"""The documentation holds together: a short README, links that resolve, citations that
point at something in the repository, and the benchmark's history where the docs say it is.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from bench.run import LATEST, RESULTS_DIR, results_path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_BYTES = 12 * 1024

#: where the code and docs live (generated and installed folders are not walked)
SKIPPED_DIRS = {"data", "target", "dbt_packages", "logs", "test-artifacts", "__pycache__"}
CITING_SUFFIXES = {".py", ".sql", ".yml", ".yaml", ".js", ".md", ".toml"}

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
_INVARIANT_CITE = re.compile(r"\binvariants?\s+(\d+(?:(?:\s*,\s*|\s+and\s+|\s*[-–]\s*)\d+)*)")
_SEED_CITE = re.compile(r"\bseeds?\s+(00\d(?:(?:\s*,\s*|\s+and\s+)00\d)*)(?!\d)", re.IGNORECASE)
_DOC_PATH = re.compile(r"\bdocs/([\w.-]+\.md)\b")


def doc_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose(text: str) -> str:
    """The text without code blocks and inline code, where a link is not a link."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped (letters of
    any script, digits, spaces, hyphens and underscores stay), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    found: set[str] = set()
    for match in _HEADING.finditer(_FENCE.sub("", markdown.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        name, n = base, 0
        while name in found:  # GitHub numbers repeated headings: name, name-1, name-2...
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def relative_links(markdown: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(prose(markdown.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)  # http:, mailto:...
    ]


def broken_links(markdown: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in relative_links(markdown):
        path_part, _, anchor = target.partition("#")
        resolved = (markdown.parent / path_part).resolve() if path_part else markdown
        if not resolved.exists():
            broken.append(f"{target}: no such file {resolved.relative_to(root)}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(root)}")
    return broken


def citing_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in SKIPPED_DIRS for p in parts[:-1]):
            continue
        if path.is_file() and path.suffix in CITING_SUFFIXES:
            files.append(path)
    return files


def numbers(cited: str) -> set[int]:
    """'7' -> {7}; '5 and 6' or '1, 2' -> both; '1-3' -> 1, 2, 3."""
    out: set[int] = set()
    for part in re.split(r"\s*,\s*|\s+and\s+", cited):
        low, _, high = re.sub(r"\s*[-–]\s*", "-", part).partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def declared_invariants() -> set[int]:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Invariants", 1)[1].split("\n## ", 1)[0]
    return {int(n) for n in re.findall(r"^(\d+)\.\s+\*\*", section, re.MULTILINE)}


def declared_seeds() -> set[str]:
    text = (DOCS / "domain.md").read_text(encoding="utf-8")
    return set(re.findall(r"^#+\s+Seed\s+(\d{3})\b", text, re.MULTILINE))


def test_the_readme_is_at_most_12_kb() -> None:
    size = len(README.read_bytes())
    assert size <= README_MAX_BYTES, (
        f"README.md is {size:,} bytes, over {README_MAX_BYTES:,}: move the detail to docs/"
    )


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    broken = {
        str(md.relative_to(ROOT)): problems for md in doc_files() if (problems := broken_links(md))
    }
    assert not broken, f"broken links: {broken}"


def test_the_readme_links_every_page_of_the_docs() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    unlinked = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_link_checker_sees_a_broken_link_and_a_missing_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## The board (看板)\n", encoding="utf-8")
    page.write_text(
        "# Page\n\n[ok](other.md#the-board-看板) [gone](missing.md) "
        "[no anchor](other.md#nowhere) [self](#page) [web](https://example.com)\n\n"
        "```\n[in code](not-a-link.md)\n```\n`[inline](nor-this.md)`\n",
        encoding="utf-8",
    )
    problems = broken_links(page, root=tmp_path)
    assert [p.split(":")[0] for p in problems] == ["missing.md", "other.md#nowhere"]


def test_every_invariant_cited_is_stated_in_the_architecture() -> None:
    declared = declared_invariants()
    assert declared == set(range(1, len(declared) + 1)), f"invariants numbered {declared}"
    unknown = [
        f"{path.relative_to(ROOT)}: invariant {n}"
        for path in citing_files()
        for match in _INVARIANT_CITE.finditer(path.read_text(encoding="utf-8", errors="ignore"))
        for n in numbers(match.group(1))
        if n not in declared
    ]
    assert not unknown, f"cited, but not in docs/architecture.md: {unknown}"


def test_every_seed_cited_is_summarised_in_the_domain_page() -> None:
    declared = declared_seeds()
    assert {"000", "002"} <= declared
    unknown = [
        f"{path.relative_to(ROOT)}: {n}"
        for path in citing_files()
        for match in _SEED_CITE.finditer(path.read_text(encoding="utf-8", errors="ignore"))
        for n in re.findall(r"00\d", match.group(1))
        if n not in declared
    ]
    assert not unknown, f"cited, but not in docs/domain.md: {unknown}"


def test_every_docs_page_named_in_the_code_exists() -> None:
    missing = sorted(
        {
            f"{path.relative_to(ROOT)}: docs/{name}"
            for path in citing_files()
            for name in _DOC_PATH.findall(path.read_text(encoding="utf-8", errors="ignore"))
            if not (DOCS / name).exists()
        }
    )
    assert not missing, f"no such page: {missing}"


def test_each_bench_run_gets_its_own_dated_file_that_git_keeps(tmp_path: Path) -> None:
    started = dt.datetime(2026, 12, 5, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    code = {"commit": "99a0723e5f0c1d2b", "uncommitted_changes": False}
    first = results_path(tmp_path, started, code)
    assert first == tmp_path / "2026-12-06-99a0723.json"  # the UTC date, the short commit
    first.write_text("{}", encoding="utf-8")
    assert results_path(tmp_path, started, code) == tmp_path / "2026-12-06-99a0723-2.json"
    dirty = results_path(tmp_path, started, {**code, "uncommitted_changes": True})
    assert dirty.name == "2026-12-06-99a0723-dirty.json"
    assert results_path(tmp_path, started, {"commit": None}).name == "2026-12-06-unversioned.json"

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot ask git what it ignores")
    kept = results_path(RESULTS_DIR, started, code).relative_to(ROOT)

    def ignored(path: Path) -> bool:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q", str(path)],
            check=False,
        )
        assert done.returncode in (0, 1), done
        return done.returncode == 0

    assert not ignored(kept), f"git would ignore {kept}, which docs/performance.md says is kept"
    assert ignored((RESULTS_DIR / LATEST).relative_to(ROOT))
