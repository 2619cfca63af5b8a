"""Hand the tree to dbt: a generated macro ``kpi_tree()`` that returns the tree as data, and
``kpi_default_vocabulary()``, the default vocabulary's lists (kpi_tree/vocabulary.py).

dbt's Jinja cannot read files, so every entry point that runs dbt (the Dagster assets, the
CLI, the tests) first calls :func:`write_dbt_macro`, which also writes the tree's MetricFlow
semantic layer (:mod:`kpi_tree.semantic_layer`). The dbt models loop over ``kpi_tree()``
to build base measures, KPI values and the tree's tables, so a formula changed in
``tree.yaml`` changes the built numbers without any SQL being edited. The generated file is
git-ignored, and so are the semantic layer's.

The shop's own vocabulary reaches dbt as the var ``kpi_vocabulary`` (the Dagster steps pass
it); the generated default is what a ``dbt build`` by hand, without it, uses
(``macros/kpi/vocabulary.sql``).
"""

from __future__ import annotations

import json
from pathlib import Path

from kpi_tree.model import Tree, default_tree
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
                "states": f.states,
                "key": f.key,
            }
            for f in tree.facts.values()
        },
        "measures": {
            m.id: {
                "fact": m.fact,
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


def write_dbt_macro(tree: Tree | None = None, path: Path = MACRO_FILE) -> bool:
    """Write the macro, and the semantic layer beside the models, where their content changed.
    Returns True when a file was (re)written."""
    tree = tree or default_tree()
    changed = write_semantic_layer(tree, path.parents[2] / "models" / "semantic")
    text = render_macro(tree)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return changed
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True
