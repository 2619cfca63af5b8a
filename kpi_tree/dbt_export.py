"""Hand the tree to dbt: a generated macro ``kpi_tree()`` that returns the tree as data, and
``kpi_default_vocabulary()``, the default vocabulary's lists (kpi_tree/vocabulary.py).

dbt's Jinja cannot read files, so every entry point that runs dbt (the Dagster assets, the
CLI, the tests) first calls :func:`write_dbt_macro`, which also writes the tree's MetricFlow
semantic layer (:mod:`kpi_tree.semantic_layer`). The generated file is git-ignored, and so
are the semantic layer's.

The KPI values are computed by models generated from the tree as plain SQL and committed
(:mod:`kpi_tree.dbt_models`), so a change to ``tree.yaml`` reads as a diff of SQL.
``python -m kpi_tree.dbt_export`` writes them, ``--check`` exits 1 naming the stale ones, and
:func:`write_dbt_macro` refuses to let dbt build from stale ones. The rest of the project's
Jinja that reads the tree (the completion pattern, the team marts, the singular tests) loops
over ``kpi_tree()``.

The shop's own vocabulary reaches dbt as the var ``kpi_vocabulary`` (the Dagster steps pass
it); the generated default is what a ``dbt build`` by hand, without it, uses
(``macros/kpi/vocabulary.sql``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kpi_tree.dbt_models import REGENERATE, render_models
from kpi_tree.model import TREE_FILE, Tree, default_tree, load_tree
from kpi_tree.semantic_layer import write_semantic_layer
from kpi_tree.vocabulary import DEFAULT_VOCABULARY

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
#: the years whose Spring Festival cohorts the completion pattern may leave out: a fixed span,
#: so that the generated macro does not change with the day it is written
COMPLETION_YEARS = range(2015, 2041)
MACRO_FILE = DBT_PROJECT_DIR / "macros" / "generated" / "kpi_tree_definition.sql"


def tree_payload(tree: Tree) -> dict:
    return {
        "maturity_days": tree.maturity_days,
        # the completion pattern of facts that mature (docs/kpi-tree.md)
        "completion": {
            "basis_days": tree.basis_days,
            "min_member_rows": tree.min_member_rows,
            "excluded": [
                [first.isoformat(), last.isoformat()]
                for first, last in tree.excluded_cohorts(COMPLETION_YEARS)
            ],
        },
        "teams": tree.teams,
        # the sources in the tree's order, with the names a reason gives them
        "sources": [{"id": sid, **names} for sid, names in tree.sources.items()],
        "facts": {
            f.id: {
                "model": f.model,
                "date": f.date,
                "dimensions": f.dimensions,
                "sources": list(f.sources),
                "matures": f.matures,
                "development": f.development,
                "key": f.key,
            }
            for f in tree.facts.values()
        },
        "measures": {
            m.id: {
                "fact": m.fact,
                "agg": m.agg,
                "sql": m.sql,
                "exposure": m.exposure,
                "parts": list(m.parts),
                "sources": list(tree.measure_sources(m.id)),
                # what it reads beyond its fact's sources: its value is unknown without them
                "extra_sources": [
                    s for s in tree.measure_sources(m.id) if s not in tree.facts[m.fact].sources
                ],
            }
            for m in tree.measures.values()
        },
        "nodes": [
            {
                "id": n.id,
                "en": n.en,
                "zh": n.zh,
                "unit": n.unit,
                "team": n.team,
                "direction": n.direction,
                "kind": n.kind,
                "numerator": n.numerator,
                "denominator": n.denominator,
                "scale": n.scale,
                "quantile": n.quantile,
                "quantile_of": n.quantile_of,
                "quantile_fact": n.quantile_fact,
                "dimensions": list(n.dimensions),
                "parent": n.parent,
                "relation": n.relation,
                "facts": sorted(tree.node_facts(n)),
                "sources": list(tree.node_sources(n)),
                "matures": tree.node_matures(n),
            }
            for _, n in tree.depth_first()
        ],
    }


def _returning(name: str, data: dict) -> str:
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
    escaped = payload.replace("\\", "\\\\").replace("'", "\\'")
    return f"{{% macro {name}() %}}\n{{{{ return(fromjson('{escaped}')) }}}}\n{{% endmacro %}}\n"


def render_macro(tree: Tree) -> str:
    return (
        "{# GENERATED from kpi_tree/tree.yaml and kpi_tree/vocabulary.py by "
        "kpi_tree.dbt_export - do not edit. #}\n"
        + _returning("kpi_tree", tree_payload(tree))
        + _returning("kpi_default_vocabulary", DEFAULT_VOCABULARY.dbt_vars())
    )


class StaleModelsError(RuntimeError):
    """The committed generated models do not match the tree dbt is about to build."""


def stale_models(tree: Tree, project_dir: Path = DBT_PROJECT_DIR) -> list[Path]:
    """The generated models under ``project_dir`` whose text differs from what ``tree``
    generates (or that are missing)."""
    stale = []
    for relative, text in render_models(tree_payload(tree)).items():
        path = project_dir / relative
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def write_models(tree: Tree, project_dir: Path = DBT_PROJECT_DIR) -> list[Path]:
    """Write the generated models that changed; returns them."""
    written = []
    for relative, text in render_models(tree_payload(tree)).items():
        path = project_dir / relative
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_dbt_macro(tree: Tree | None = None, path: Path = MACRO_FILE) -> bool:
    """Write the macro, and the semantic layer beside the models, where their content changed.
    Returns True when a file was (re)written. Raises :class:`StaleModelsError` when the
    project's generated models were not regenerated from this tree: dbt would build the KPI
    values of an older tree beside the macro of this one."""
    tree = tree or default_tree()
    project_dir = path.parents[2]
    stale = stale_models(tree, project_dir)
    if stale:
        names = ", ".join(str(p) for p in stale)
        raise StaleModelsError(
            f"{names}: generated from an older kpi_tree/tree.yaml (rule: the KPI models are "
            f"regenerated whenever the tree changes). Run `{REGENERATE}` and commit the result."
        )
    changed = write_semantic_layer(tree, project_dir / "models" / "semantic")
    text = render_macro(tree)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return changed
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kpi_tree.dbt_export",
        description="Write the dbt models generated from kpi_tree/tree.yaml (and the tree's "
        "macro), or check that the committed ones are current.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming the generated models that are stale",
    )
    parser.add_argument("--tree", type=Path, default=TREE_FILE, help="the tree (YAML)")
    parser.add_argument("--project-dir", type=Path, default=DBT_PROJECT_DIR)
    args = parser.parse_args(argv)
    tree = load_tree(args.tree)
    if args.check:
        stale = stale_models(tree, args.project_dir)
        for path in stale:
            print(f"stale: {path} (kpi_tree/tree.yaml changed; run `{REGENERATE}`)")
        if not stale:
            print("the generated dbt models are current")
        return 1 if stale else 0
    for path in write_models(tree, args.project_dir):
        print(f"wrote {path}")
    write_dbt_macro(tree, args.project_dir / MACRO_FILE.relative_to(DBT_PROJECT_DIR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
