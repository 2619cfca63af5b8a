"""The KPI models generated from tree.yaml (kpi_tree/dbt_models.py) are committed, and a check
fails while they are stale: the one on the branch, and one of a copy whose tree changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from kpi_tree.dbt_export import (
    DBT_PROJECT_DIR,
    MACRO_FILE,
    StaleModelsError,
    write_dbt_macro,
    write_models,
)
from kpi_tree.dbt_models import render_models
from kpi_tree.model import TREE_FILE, load_tree, parse_tree

ROOT = Path(__file__).resolve().parent.parent


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kpi_tree.dbt_export", "--check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project_copy(tmp_path) -> tuple[Path, Path]:
    """A copy of the generated models and of the tree, as the branch has them."""
    project = tmp_path / "dbt_project"
    for relative in _generated_paths():
        target = project / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DBT_PROJECT_DIR / relative, target)
    tree = tmp_path / "tree.yaml"
    shutil.copyfile(TREE_FILE, tree)
    return project, tree


def _generated_paths() -> list[Path]:
    from kpi_tree.dbt_export import tree_payload

    return list(render_models(tree_payload(load_tree())))


def test_the_committed_models_are_generated_from_the_committed_tree():
    out = _check()
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_changed_tree_makes_the_check_fail_naming_the_stale_models(project_copy):
    project, tree = project_copy
    assert _check("--tree", str(tree), "--project-dir", str(project)).returncode == 0

    data = yaml.safe_load(tree.read_text(encoding="utf-8"))
    data["nodes"]["cross_sell_rate"]["formula"]["scale"] = 100
    tree.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = _check("--tree", str(tree), "--project-dir", str(project))
    assert out.returncode == 1
    stale = {
        Path(line.split()[1]).relative_to(project)
        for line in out.stdout.splitlines()
        if line.startswith("stale:")
    }
    assert stale == {
        Path("models/marts/kpi/fct_kpi_values.sql"),
        Path("models/marts/kpi/dim_kpi_nodes.sql"),
    }

    # regenerated, the copy is current again, and differs from the branch's where it should
    write = subprocess.run(
        [sys.executable, "-m", "kpi_tree.dbt_export", "--tree", str(tree)]
        + ["--project-dir", str(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert write.returncode == 0, write.stderr
    assert _check("--tree", str(tree), "--project-dir", str(project)).returncode == 0
    changed = {
        relative
        for relative in _generated_paths()
        if (project / relative).read_text() != (DBT_PROJECT_DIR / relative).read_text()
    }
    assert changed == stale


def _set_measure_expr(data: dict) -> None:
    data["measures"]["multi_item_orders"]["expr"] = (
        "case when distinct_products > 2 then 1 else 0 end"
    )


def _set_basis_days(data: dict) -> None:
    data["business"]["completion"]["basis_days"] = 60


@pytest.mark.parametrize(
    ("change", "want"),
    [
        # a measure's expression is spelled out in the base measures alone
        (_set_measure_expr, {Path("models/marts/kpi/fct_base_measures.sql")}),
        # the span of cohorts whose shipment history the completion pattern reads
        (_set_basis_days, {Path("models/intermediate/int_shipment_development.sql")}),
    ],
    ids=["measure-expression", "completion-basis-days"],
)
def test_a_changed_measure_or_completion_basis_makes_its_model_stale(project_copy, change, want):
    project, tree = project_copy
    data = yaml.safe_load(tree.read_text(encoding="utf-8"))
    change(data)
    tree.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = _check("--tree", str(tree), "--project-dir", str(project))
    assert out.returncode == 1, out.stdout + out.stderr
    stale = {
        Path(line.split()[1]).relative_to(project)
        for line in out.stdout.splitlines()
        if line.startswith("stale:")
    }
    assert stale == want


def test_dbt_is_not_prepared_from_stale_models(project_copy):
    """Every entry point that runs dbt writes the tree's macro first: it refuses when the
    models were generated from another tree, rather than build two trees at once."""
    project, tree = project_copy
    data = yaml.safe_load(tree.read_text(encoding="utf-8"))
    data["nodes"]["aov"]["dimensions"] = ["channel"]
    changed = parse_tree(data)
    macro = project / MACRO_FILE.relative_to(DBT_PROJECT_DIR)
    with pytest.raises(StaleModelsError, match="fct_kpi_values.sql"):
        write_dbt_macro(changed, macro)
    assert not macro.exists()
    assert write_models(changed, project)
    write_dbt_macro(changed, macro)
    assert macro.exists()


def test_the_generated_inline_tables_read_the_same_on_duckdb():
    """The node -> measure table of fct_kpi_values, as DuckDB reads it, is the tree's."""
    text = (DBT_PROJECT_DIR / "models/marts/kpi/fct_kpi_values.sql").read_text()
    start = text.index("node_formulas as (") + len("node_formulas as (")
    sql = text[start : text.index("\n),", start)]
    rows = duckdb.sql(sql).fetchall()
    tree = load_tree()
    want = [
        (n.id, n.numerator, n.denominator) for _, n in tree.depth_first() if n.kind != "quantile"
    ]
    assert rows == want
