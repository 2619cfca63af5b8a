"""The tree as a MetricFlow semantic layer: dbt semantic models, metrics and a time spine,
generated from ``tree.yaml`` into ``dbt_project/models/semantic/`` (git-ignored, rewritten
with the tree's macro before every dbt run: :func:`kpi_tree.dbt_export.write_dbt_macro`).

What is generated (dbt-core 1.11's semantic layer spec: top-level ``semantic_models:`` with
measures, and ``metrics:``):

- a view per fact, ``sem_<fact>`` (``macros/kpi/semantic.sql``): the fact's rows with their
  members and each measure's per-row value, unknown while a source it needs is missing, as
  in ``fct_base_measures``;
- a semantic model per fact over its view: the fact's business date as its time dimension,
  each dimension of the tree as an *entity*, so that a metric whose parts come from two facts
  (orders / sessions) can be grouped by a dimension both share; a measure per tree measure;
- a simple metric per measure and per additive node, a ratio metric per ratio node (a
  derived one when it has a scale, or when its parts come from two facts: then the
  numerator of a slice without its own rows is 0 if the shop delivers what it reads, else
  unknown, as the denominator's view says), a percentile metric per percentile node;
- a derived metric ``<parent>_identity`` per identity of the tree (GMV = sessions ×
  conversion rate × AOV), computed from the children;
- month to date, ``<node>_mtd``: cumulative metrics of the measures, and a ratio of them for
  a ratio node, so a month-to-date rate is Σnumerator / Σdenominator to date;
- targets at month grain, ``<node>_target``, over ``fct_targets`` (the whole shop's scope):
  an additive KPI's target is summed, a rate's averaged over its days, so quarters and years
  roll up as ``fct_targets`` does;
- the time spine MetricFlow needs, ``metricflow_time_spine`` (a day per row).

What MetricFlow cannot mean the way ``fct_kpi_values`` does is left out, with the reason
(:func:`omissions`; docs/bi.md lists them): never a metric that reads differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kpi_tree.model import Node, Tree, default_tree

SEMANTIC_DIR = Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "semantic"
TIME_SPINE = "metricflow_time_spine"
#: the days the time spine covers: every business day a shop's history or plan can hold
TIME_SPINE_START = "2000-01-01"
TIME_SPINE_END = "2051-01-01"
#: the semantic model of the targets and the scope of the whole shop
TARGETS_MODEL = "targets"
WHOLE_SHOP_SCOPE = "all"
GENERATED = "GENERATED from kpi_tree/tree.yaml by kpi_tree.semantic_layer - do not edit."


class SemanticLayerError(ValueError):
    """The tree cannot be written as a semantic layer (a name two things would share)."""


@dataclass(frozen=True)
class Omission:
    """A node (or a part of one) the semantic layer leaves out, and why."""

    name: str
    reason: str


def fact_view(fact_id: str) -> str:
    return f"sem_{fact_id}"


def _entity(fact_id: str) -> str:
    # a fact's rows have no key of their own in the tree; MetricFlow needs a primary entity
    # for a semantic model with dimensions
    return f"{fact_id}_row"


def _label(text: str) -> str:
    return text[:1].upper() + text[1:]


def _describe(node: Node, tree: Tree) -> str:
    team = tree.teams[node.team]
    return (
        f"{node.en} ({node.zh}). {_formula(node, tree)}. Unit {node.unit}, "
        f"{node.direction} is better; owned by {team['en']} ({team['zh']})."
    )


def _formula(node: Node, tree: Tree) -> str:
    m = tree.measures
    if node.kind == "sum":
        return f"Σ {m[str(node.numerator)].en}"
    if node.kind == "ratio":
        scale = "" if node.scale == 1 else f"{node.scale:g} × "
        return (
            f"{scale}Σ {m[str(node.numerator)].en} / Σ {m[str(node.denominator)].en}, "
            "summed over the period before dividing"
        )
    return f"the {node.quantile:g} percentile of {node.quantile_of}, over the period's rows"


def _meta(node: Node) -> dict[str, Any]:
    return {
        "kpi_id": node.id,
        "zh": node.zh,
        "unit": node.unit,
        "team": node.team,
        "direction": node.direction,
    }


def omissions(tree: Tree) -> list[Omission]:
    """What the semantic layer leaves out of the tree, and why.

    A node's dimension must be one of every fact its measures come from (the tree refuses
    anything else), so a ratio of two facts is never sliced by a dimension one of them lacks.
    What is left is a percentile's month to date: a percentile is not additive, so it has no
    running total to cumulate (its value for any period is computed from that period's rows).
    """
    return [
        Omission(
            f"{node.id}_mtd",
            "a percentile is not additive: its month to date is the percentile of the "
            "month's rows so far, which a cumulative metric cannot compute; query "
            f"{node.id} by day or month instead",
        )
        for node in tree.nodes.values()
        if node.kind == "quantile"
    ]


def cross_fact_ratios(tree: Tree) -> list[Node]:
    """The ratio nodes whose numerator and denominator come from two facts (orders /
    sessions). Where a slice has rows of the denominator's fact but none of the numerator's,
    the numerator is 0 if the shop delivers what it reads, else unknown; MetricFlow cannot
    tell the two apart from the numerator's own rows (there are none), so the denominator's
    view says which (:func:`zero_on`)."""
    return [
        n
        for n in tree.nodes.values()
        if n.kind == "ratio"
        and tree.measures[str(n.numerator)].fact != tree.measures[str(n.denominator)].fact
    ]


def zero_on(node: Node, tree: Tree) -> tuple[str, str]:
    """(the denominator's fact, the measure on it) that is 0 on its rows when the sources of
    a cross-fact ratio's numerator are delivered, and unknown when they are not."""
    fact = tree.measures[str(node.denominator)].fact
    return fact, f"{node.numerator}_zero_on_{fact}"


def complete_parts(node: Node, tree: Tree) -> dict[str, tuple[str, str]]:
    """A cross-fact ratio's parts over the days both are there: {"numerator" | "denominator":
    (its fact, the measure)}. A week or month of orders / sessions with a sessions day missing
    is over the other days, as fct_kpi_values computes it (the view leaves the parts of a
    day a source of the ratio is missing unknown, ``macros/kpi/semantic.sql``)."""
    return {
        part: (tree.measures[str(getattr(node, part))].fact, f"{node.id}_{part}")
        for part in ("numerator", "denominator")
    }


def semantic_models(tree: Tree) -> list[dict[str, Any]]:
    models = []
    for fact in tree.facts.values():
        measures = [m for m in tree.measures.values() if m.fact == fact.id]
        quantiles = [
            n for n in tree.nodes.values() if n.kind == "quantile" and n.quantile_fact == fact.id
        ]
        zeros = {
            zero_on(n, tree)[1]: n
            for n in cross_fact_ratios(tree)
            if zero_on(n, tree)[0] == fact.id
        }.values()
        if not measures and not quantiles:
            continue
        model: dict[str, Any] = {
            "name": fact.id,
            "description": (
                f"The {fact.id} fact of the KPI tree ({fact.model}), one row per row, "
                f"counted on {fact.date}. Dimensions are entities, so metrics of two facts "
                "can be grouped by one both have. " + GENERATED
            ),
            "model": f"ref('{fact_view(fact.id)}')",
            "defaults": {"agg_time_dimension": fact.date},
            "primary_entity": _entity(fact.id),
            "entities": [
                {"name": dim, "type": "foreign", "description": f"{dim} (column {column})"}
                for dim, column in fact.dimensions.items()
            ],
            "dimensions": [
                {
                    "name": fact.date,
                    "type": "time",
                    "type_params": {"time_granularity": "day"},
                    "description": "The business day the row counts on (the shop's zone).",
                }
            ],
            "measures": [
                {
                    "name": m.id,
                    "description": f"{m.en} ({m.zh})",
                    "agg": "sum",
                    "expr": f"m_{m.id}",
                }
                for m in measures
            ]
            + [
                {
                    "name": n.id,
                    "description": f"{n.en} ({n.zh})",
                    "agg": "percentile",
                    "expr": str(n.quantile_of),
                    "agg_params": {
                        "percentile": n.quantile,
                        "use_discrete_percentile": False,
                        "use_approximate_percentile": False,
                    },
                }
                for n in quantiles
            ]
            + [
                {
                    "name": name,
                    "description": f"0 on these rows when the shop delivers what "
                    f"{node.numerator} reads, else unknown ({node.id}'s numerator where a "
                    "slice has none of its own rows)",
                    "agg": "sum",
                    "expr": f"z_{node.numerator}",
                }
                for node in zeros
                for _, name in [zero_on(node, tree)]
            ]
            + [
                {
                    "name": name,
                    "description": f"The {part} of {node.id} on the days both its parts are "
                    "there (unknown on a day a source of it is missing)",
                    "agg": "sum",
                    "expr": f"p_{node.id}_{part}",
                }
                for node in cross_fact_ratios(tree)
                for part, (on, name) in complete_parts(node, tree).items()
                if on == fact.id
            ],
        }
        models.append(model)
    models.append(
        {
            "name": TARGETS_MODEL,
            "description": (
                "The targets in force (fct_targets), at month grain: a month's target of "
                "each KPI and scope. " + GENERATED
            ),
            "model": "ref('fct_targets')",
            "defaults": {"agg_time_dimension": "period_start"},
            "primary_entity": "target_row",
            "dimensions": [
                {
                    "name": "period_start",
                    "type": "time",
                    "type_params": {"time_granularity": "month"},
                    "description": "The first day of the month.",
                },
                {"name": "kpi_id", "type": "categorical", "description": "The KPI."},
                {"name": "scope", "type": "categorical", "description": "all, or a split."},
                {"name": "grain", "type": "categorical", "description": "The target's period."},
            ],
            "measures": [
                {"name": "target_sum", "agg": "sum", "expr": "target",
                 "description": "Σ targets (additive KPIs)"},
                {"name": "target_day_weighted", "agg": "sum", "expr": "target * target_days",
                 "description": "Σ target × its days (a rate's mean over days)"},
                {"name": "target_days", "agg": "sum", "expr": "target_days",
                 "description": "Σ days with a target"},
            ],
        }
    )  # fmt: skip
    return models


def _target_filter(node: Node) -> str:
    dim = "{{ Dimension('target_row__%s') }}"
    return (
        f"{dim % 'kpi_id'} = '{node.id}' and {dim % 'grain'} = 'month' "
        f"and {dim % 'scope'} = '{WHOLE_SHOP_SCOPE}'"
    )


def _ratio(scale: float, numerator: str, denominator: str, zero: str | None) -> dict[str, Any]:
    """scale × Σ numerator / Σ denominator as MetricFlow's ratio metric divides (in double
    precision, unknown over 0). A ratio metric can neither scale (CPM is 1000 × spend /
    impressions) nor count a numerator without rows in a slice as 0; a derived metric does
    both: ``zero`` is 0 where the numerator's sources are delivered, else unknown."""
    if scale == 1 and zero is None:
        return {
            "type": "ratio",
            "type_params": {"numerator": numerator, "denominator": denominator},
        }
    part = f"coalesce({numerator}, {zero})" if zero else numerator
    inputs = [numerator, denominator, *([zero] if zero else [])]
    return {
        "type": "derived",
        "type_params": {
            "expr": ("" if scale == 1 else f"{scale:g} * ")
            + f"cast({part} as double) / nullif(cast({denominator} as double), 0)",
            "metrics": [{"name": name} for name in inputs],
        },
    }


def metrics(tree: Tree) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}

    def add(metric: dict[str, Any], what: str) -> None:
        if metric["name"] in names:
            raise SemanticLayerError(
                f"kpi_tree/tree.yaml: the metric name '{metric['name']}' would be both "
                f"{names[metric['name']]} and {what}: rename the node or the measure"
            )
        names[metric["name"]] = what
        out.append(metric)

    nodes = list(tree.nodes.values())
    sum_nodes = {n.id: n for n in nodes if n.kind == "sum"}
    used = {m for n in nodes for m in n.measures}

    zeros = {n.id: zero_on(n, tree)[1] for n in cross_fact_ratios(tree)}

    # base measures, and the additive nodes (a node that sums a measure of its own name is
    # that measure's metric)
    for m in tree.measures.values():
        node = sum_nodes.get(m.id)
        if node is not None and node.numerator == m.id:
            continue
        add(
            {
                "name": m.id,
                "label": _label(m.en),
                "description": f"Base measure: {m.en} ({m.zh}), Σ over the {m.fact} fact. "
                + GENERATED,
                "type": "simple",
                "type_params": {"measure": {"name": m.id}},
                "config": {"meta": {"measure_id": m.id, "zh": m.zh}},
            },
            f"measure {m.id}",
        )
    for zero, node_id in {z: n for n, z in reversed(zeros.items())}.items():
        add(
            {
                "name": zero,
                "label": _label(zero.replace("_", " ")),
                "description": f"A part of {node_id}: 0 in a slice of the denominator's rows "
                "when the shop delivers what the numerator reads, else unknown. " + GENERATED,
                "type": "simple",
                "type_params": {"measure": {"name": zero}},
            },
            f"the zero of {node_id}'s numerator",
        )
    parts = {n.id: complete_parts(n, tree) for n in cross_fact_ratios(tree)}
    for node_id, named in parts.items():
        for part, (_fact, name) in named.items():
            add(
                {
                    "name": name,
                    "label": _label(name.replace("_", " ")),
                    "description": f"The {part} of {node_id} on the days both its parts are "
                    "there. " + GENERATED,
                    "type": "simple",
                    "type_params": {"measure": {"name": name}},
                },
                f"the {part} of {node_id}",
            )

    def num_den(node: Node) -> tuple[str, str]:
        if node.id in parts:
            return parts[node.id]["numerator"][1], parts[node.id]["denominator"][1]
        return str(node.numerator), str(node.denominator)

    for node in nodes:
        meta = _meta(node)
        if node.kind == "sum":
            metric = {
                "type": "simple",
                "type_params": {"measure": {"name": str(node.numerator)}},
            }
        elif node.kind == "ratio":
            metric = _ratio(node.scale, *num_den(node), zeros.get(node.id))
        else:
            metric = {"type": "simple", "type_params": {"measure": {"name": node.id}}}
        add(
            {
                "name": node.id,
                "label": node.en,
                "description": _describe(node, tree) + " " + GENERATED,
                **metric,
                "config": {"meta": meta},
            },
            f"node {node.id}",
        )  # fmt: skip

    # the tree's identities, computed from the children
    for parent, relation, kids in tree.identities():
        op = " * " if relation == "product" else " + "
        add(
            {
                "name": f"{parent.id}_identity",
                "label": f"{parent.en} from its drivers",
                "description": (
                    f"{parent.en} = "
                    + op.join(k.en for k in kids).replace("*", "×")
                    + ": the tree's identity, computed from the children; equals "
                    f"{parent.id}. " + GENERATED
                ),
                "type": "derived",
                "type_params": {
                    "expr": op.join(k.id for k in kids),
                    "metrics": [{"name": k.id} for k in kids],
                },
                "config": {"meta": {"kpi_id": parent.id, "identity": relation}},
            },
            f"the identity of {parent.id}",
        )

    # month to date: a running total per measure, and each node from them
    def mtd(measure_id: str) -> str:
        return f"{measure_id}_mtd"

    running = [(m.id, f"Σ {m.en}", _label(m.en)) for m in tree.measures.values() if m.id in used]
    running += [
        (z, f"the zero of {n}'s numerator", _label(z.replace("_", " ")))
        for z, n in {z: n for n, z in reversed(zeros.items())}.items()
    ]
    running += [
        (name, f"the {part} of {node_id} on the days both its parts are there", _label(name))
        for node_id, named in parts.items()
        for part, (_fact, name) in named.items()
    ]
    for measure_id, what, label in running:
        add(
            {
                "name": mtd(measure_id),
                "label": f"{label}, month to date",
                "description": f"{what} from the first of the month to the day. " + GENERATED,
                "type": "cumulative",
                "type_params": {
                    "measure": {"name": measure_id},
                    "cumulative_type_params": {"grain_to_date": "month"},
                },
            },
            f"the month to date of {measure_id}",
        )
    for node in nodes:
        if node.kind == "quantile":
            continue  # omissions(): not additive
        if node.kind == "sum":
            if node.id == node.numerator:
                continue  # the measure's own running total
            metric = {
                "type": "derived",
                "type_params": {
                    "expr": mtd(str(node.numerator)),
                    "metrics": [{"name": mtd(str(node.numerator))}],
                },
            }
        else:
            zero = zeros.get(node.id)
            numerator, denominator = num_den(node)
            metric = _ratio(
                node.scale, mtd(numerator), mtd(denominator), mtd(zero) if zero else None
            )
        add(
            {
                "name": mtd(node.id),
                "label": f"{node.en}, month to date",
                "description": f"{node.en} from the first of the month to the day: "
                f"{_formula(node, tree)}. " + GENERATED,
                **metric,
                "config": {"meta": _meta(node)},
            },
            f"the month to date of node {node.id}",
        )  # fmt: skip

    # targets at month grain, for the whole shop
    for helper, what in (("target_day_weighted", "Σ target × days"), ("target_days", "Σ days")):
        add(
            {
                "name": f"kpi_{helper}",
                "label": f"Targets: {what}",
                "description": f"A part of the rate targets: {what}. " + GENERATED,
                "type": "simple",
                "type_params": {"measure": {"name": helper}},
            },
            f"the targets' {helper}",
        )
    for node in nodes:
        if node.kind == "sum":
            metric = {"type": "simple", "type_params": {"measure": {"name": "target_sum"}}}
        else:
            metric = {
                "type": "ratio",
                "type_params": {
                    "numerator": "kpi_target_day_weighted",
                    "denominator": "kpi_target_days",
                },
            }
        add(
            {
                "name": f"{node.id}_target",
                "label": f"{node.en}, target",
                "description": (
                    f"The whole shop's target of {node.en} in force, by month (a quarter or "
                    "year sums an additive KPI's months and averages a rate over its days). "
                    + GENERATED
                ),
                **metric,
                "filter": _target_filter(node),
                "config": {"meta": _meta(node)},
            },
            f"the target of node {node.id}",
        )
    return out


def time_spine_sql() -> str:
    return (
        f"{{# {GENERATED} #}}\n"
        "-- one row per day: MetricFlow joins cumulative metrics (month to date) to it\n"
        "with days as (\n"
        f"    {{{{ dbt.date_spine('day', \"cast('{TIME_SPINE_START}' as date)\", "
        f"\"cast('{TIME_SPINE_END}' as date)\") }}}}\n"
        ")\n\n"
        "select cast(date_day as date) as date_day from days\n"
    )


def fact_view_sql(fact_id: str) -> str:
    return f"{{# {GENERATED} #}}\n{{{{ kpi_semantic_fact('{fact_id}') }}}}\n"


def render_files(tree: Tree) -> dict[str, str]:
    """File name -> text of every file of ``models/semantic/``."""
    header = f"# {GENERATED}\n"
    sem_models = semantic_models(tree)
    views = [m["name"] for m in sem_models if m["name"] != TARGETS_MODEL]
    models_yml = {
        "version": 2,
        "models": [
            {
                "name": TIME_SPINE,
                "description": "One row per day, for MetricFlow's time-based joins.",
                "time_spine": {"standard_granularity_column": "date_day"},
                "columns": [{"name": "date_day", "granularity": "day"}],
            },
            *(
                {
                    "name": fact_view(fid),
                    "description": f"The rows of the {fid} fact as its semantic model reads "
                    "them (macros/kpi/semantic.sql).",
                }
                for fid in views
            ),
        ],
    }
    files = {
        f"{TIME_SPINE}.sql": time_spine_sql(),
        **{f"{fact_view(fid)}.sql": fact_view_sql(fid) for fid in views},
        "_semantic__models.yml": header + _dump(models_yml),
        "_semantic__semantic_models.yml": header + _dump({"semantic_models": sem_models}),
        "_semantic__metrics.yml": header + _dump({"metrics": metrics(tree)}),
    }
    return files


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_semantic_layer(tree: Tree | None = None, folder: Path = SEMANTIC_DIR) -> bool:
    """Write ``models/semantic/`` where its content changed, removing files the tree no longer
    makes. Returns True when anything was (re)written or removed."""
    files = render_files(tree or default_tree())
    changed = False
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.is_file() and old.name not in files:
            old.unlink()
            changed = True
    for name, text in files.items():
        path = folder / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.write_text(text, encoding="utf-8")
        changed = True
    return changed
