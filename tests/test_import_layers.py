"""The import graph runs one way: the gate judges, publishing acts on the verdict, alerts act
on the publication; the tree's definition is at the bottom and imports none of them.

Every import statement of every module is read with ``ast`` (those inside functions too), so
an import added anywhere in a package is caught without running it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: package -> what it must never import (a module, or any module under it)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the gate judges and records its verdict; what happens next is not its business
    "pipelines.quality": ("pipelines.publish", "pipelines.alerts"),
    # publishing reads the verdict record (expectations.verdict), not the gate or its suites
    "pipelines.publish": (
        "pipelines.quality",
        "pipelines.alerts",
        "expectations.runner",
        "expectations.suites",
        "great_expectations",
    ),
    # alerts act on the publication (pipelines.publish), not on the gate; a held-back
    # notice words the failures of the verdict record (expectations.verdict), as publish reads it
    "pipelines.alerts": (
        "pipelines.quality",
        "expectations.runner",
        "expectations.suites",
        "great_expectations",
    ),
    # the gate's suites and runner know the tree, not the pipelines
    "expectations": ("pipelines",),
    # the tree's definition, its units and its planning: pure, below everything else
    "kpi_tree": (
        "pipelines",
        "expectations",
        "dagster",
        "dagster_dbt",
        "great_expectations",
    ),
}


#: package -> what it may import all the same: the warehouse's shared queries
#: (pipelines/queries.py) import only duckdb and the tree, so the suites can use them and stay
#: below the pipelines
ALLOWED: dict[str, tuple[str, ...]] = {"expectations": ("pipelines.queries",)}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            # `from pipelines import publish` imports the module pipelines.publish
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def upward_imports(root: Path, rules: dict[str, tuple[str, ...]]) -> list[str]:
    """'<file>: <module> imports <forbidden>' for every import a rule forbids."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in (".venv", "tests", "bench"):
            continue
        module = module_name(path, root)
        for package, forbidden in rules.items():
            if not _under(module, package):
                continue
            for imported in sorted(imported_modules(path, root)):
                allowed = any(_under(imported, a) for a in ALLOWED.get(package, ()))
                if any(_under(imported, f) for f in forbidden) and not allowed:
                    found.append(f"{path.relative_to(root)}: {module} imports {imported}")
    return found


def test_no_import_runs_upward():
    assert upward_imports(ROOT, FORBIDDEN) == []


def test_what_is_allowed_imports_nothing_of_the_pipelines():
    for allowed in {m for modules in ALLOWED.values() for m in modules}:
        path = ROOT.joinpath(*allowed.split(".")).with_suffix(".py")
        assert not [m for m in imported_modules(path, ROOT) if _under(m, "pipelines")], allowed


def test_every_rule_names_a_package_that_exists():
    for package in FORBIDDEN:
        folder = ROOT.joinpath(*package.split("."))
        assert (folder / "__init__.py").exists(), package


@pytest.mark.parametrize(
    "source",
    [
        "from pipelines.publish.serving import append_log\n",
        "import pipelines.alerts.notify\n",
        "def act():\n    from pipelines.alerts import notify\n",  # inside a function
        "from ..publish import serving\n",  # relative
        "from .. import alerts\n",
    ],
)
def test_the_check_finds_an_upward_import_however_it_is_written(tmp_path, source):
    for package in ("pipelines", "pipelines/quality", "pipelines/publish", "pipelines/alerts"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "pipelines" / "quality" / "checks.py").write_text(source)
    (tmp_path / "pipelines" / "publish" / "assets.py").write_text("import dagster\n")
    found = upward_imports(tmp_path, FORBIDDEN)
    assert len(found) >= 1 and all(f.startswith("pipelines/quality/checks.py: ") for f in found)
