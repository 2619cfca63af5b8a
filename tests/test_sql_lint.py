"""The dbt project's SQL keeps the house style: sqlfluff with the dbt templater (.sqlfluff at the
repository root, docs/development.md "SQL style") finds nothing in the files it lints, and it
does find a model that breaks the style."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pathspec

from kpi_tree.dbt_export import write_dbt_macro

ROOT = Path(__file__).resolve().parent.parent
SQLFLUFF = Path(sys.executable).with_name("sqlfluff")


def _environment() -> dict[str, str]:
    """As on a fresh clone: no warehouse, no window, no dbt settings from the shell."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("KPI_", "DBT_"))}


def _lint(root: Path, *paths: str) -> tuple[int, list[dict], str]:
    write_dbt_macro()  # the tree's macro, which the models call (git-ignored, generated)
    run = subprocess.run(
        [str(SQLFLUFF), "lint", "--format", "json", "--nocolor", *paths],
        cwd=root,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    # the dbt templater may print its progress before the JSON document
    start = run.stdout.find("[{")
    files = json.loads(run.stdout[start:]) if start >= 0 else []
    return run.returncode, files, run.stderr


def _files_to_lint() -> set[str]:
    """The project's SQL files less those .sqlfluffignore names, found here independently of
    sqlfluff (git's wildcards, as sqlfluff reads the file)."""
    ignore = pathspec.PathSpec.from_lines(
        "gitwildmatch", (ROOT / ".sqlfluffignore").read_text(encoding="utf-8").splitlines()
    )
    project = ROOT / "dbt_project"
    found = set()
    for folder in ("models", "tests", "analyses", "snapshots"):
        for path in (project / folder).rglob("*.sql"):
            relative = path.relative_to(ROOT).as_posix()
            if not ignore.match_file(relative):
                found.add(relative)
    return found


def test_the_dbt_projects_sql_passes_sqlfluff():
    returncode, files, stderr = _lint(ROOT, "dbt_project")
    violations = [
        f"{f['filepath']}:{v['start_line_no']}: {v['code']} {v['description']}"
        for f in files
        for v in f["violations"]
    ]
    assert not violations, "sqlfluff found (`sqlfluff fix <file>` fixes most):\n" + "\n".join(
        violations
    )
    assert returncode == 0, stderr
    linted = {Path(f["filepath"]).as_posix() for f in files}
    # every model and test not ignored was linted: none skipped, none missed
    assert linted == _files_to_lint()
    assert "dbt_project/models/staging/stg_shop__orders.sql" in linted


def test_sqlfluff_finds_an_upper_case_keyword_and_a_bad_indent(tmp_path):
    """A copy of the project whose stg_shop__orders has `SELECT` and a column indented by 3."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in (".sqlfluff", ".sqlfluffignore"):
        shutil.copyfile(ROOT / name, root / name)
    write_dbt_macro()
    shutil.copytree(
        ROOT / "dbt_project",
        root / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    model = root / "dbt_project" / "models" / "staging" / "stg_shop__orders.sql"
    lines = model.read_text(encoding="utf-8").splitlines(keepends=True)
    select_no = next(i for i, line in enumerate(lines) if line.strip() == "select") + 1
    column_no = select_no + 1
    assert lines[select_no - 1] == "    select\n" and lines[column_no - 1].startswith(" " * 8)
    lines[select_no - 1] = "    SELECT\n"
    lines[column_no - 1] = " " * 3 + lines[column_no - 1].lstrip(" ")
    model.write_text("".join(lines), encoding="utf-8")

    returncode, files, stderr = _lint(root, "dbt_project/models/staging/stg_shop__orders.sql")

    assert returncode == 1, stderr
    found = {(v["code"], v["start_line_no"]) for f in files for v in f["violations"]}
    assert ("CP01", select_no) in found
    assert ("LT02", column_no) in found
