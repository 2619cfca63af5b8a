"""The data dictionary of the serving warehouse, generated from the tree and the dbt docs.

Nothing here is typed twice: table descriptions and the KPI tables' key columns come from
the dbt models' YAML (through the manifest), KPI columns from ``kpi_tree/tree.yaml``; an
amount of money is said to be in the shop's currency (kpi.yaml ``currency``). Tables
other steps keep in the serving file describe themselves (``ServedTable.description``).
The serving file carries each entry as the comment of its table, view or column.
"""

from __future__ import annotations

import json
from pathlib import Path

from kpi_tree.model import Node, Tree
from kpi_tree.units import SHARED_UNIT, team_units
from pipelines.publish.tables import LATEST, LONG_TABLES, PER_TEAM, RENAMED

LOG_DESCRIPTION = (
    "One row per unit and run: published (once the night that carries it is in place), held "
    "back, skipped (none of its KPIs can be computed from the sources delivered) or failed "
    "(its publish stopped midway; a later run repairs it), with the data's as-of day, the "
    "failed expectations, how many days are still provisional, the validation report, the "
    "KPIs not available and why, and notes."
)
LOG_COLUMN_DESCRIPTIONS = {
    "unit": "The publication unit: a team's schema, or kpi_tree for the shared tables.",
    "run_id": "The Dagster run the entry is about.",
    "status": "published, held_back, skipped or failed.",
    "published_at": "When the entry was made (UTC); for published, when its night went live.",
    "data_as_of": "The newest day of the run's window.",
    "window_start": "The first day of the run's window.",
    "failed_expectations": "The quality gate's failed expectations (held back).",
    "provisional_days": "Days of the unit's KPIs that are still provisional (maturing).",
    "report": "The quality gate's validation report (HTML data docs).",
    "not_available": "The unit's KPIs the shop cannot compute, and what each needs.",
    "notes": "Why a publish failed, that a later run repaired it, or a foreign writer of the "
    "serving file found and named.",
}
DICTIONARY_COLUMNS = {
    "schema_name": "The schema (a publication unit, or main).",
    "table_name": "The table or view.",
    "column_name": "The column; empty for the table itself.",
    "description": "What it means.",
}

PUBLISHED_FROM = {
    "kpi_values": "fct_kpi_values",
    "kpi_vs_target": "fct_kpi_vs_target",
    "kpi_nodes": "dim_kpi_nodes",
    "kpi_edges": "dim_kpi_edges",
    "plan_versions": "stg_targets__plan_versions",
    "targets": "stg_targets__targets",
    "targets_in_force": "fct_targets",
    "kpi_availability": "fct_kpi_availability",
}
TRACE_COLUMNS = {
    "_published_run_id": "The Dagster run that published the row (see publication_log).",
    "_published_at": "When that run published it (UTC).",
}


def _formula(tree: Tree, node: Node) -> str:
    def name(m: str | None) -> str:
        return tree.measures[m].en if m else ""

    if node.kind == "sum":
        return f"Σ {name(node.numerator)}"
    if node.kind == "ratio":
        scale = f"{node.scale:g} × " if node.scale != 1 else ""
        return f"{scale}Σ {name(node.numerator)} / Σ {name(node.denominator)}"
    return f"P{node.quantile * 100:g} of {node.quantile_of}"


def unit_text(node: Node, currency: str) -> str:
    """A node's unit as the dictionary says it: money in the shop's currency (``USD``)."""
    return currency if node.unit == "money" else node.unit


def kpi_column(tree: Tree, node: Node, currency: str) -> str:
    team = tree.teams[node.team]["en"]
    return (
        f"{node.en} ({node.zh}), {unit_text(node, currency)}, owned by {team}, "
        f"{node.direction} is better: "
        f"{_formula(tree, node)}."
    )


def data_dictionary(tree: Tree, manifest_path: Path, currency: str) -> list[dict[str, str]]:
    """Rows of (schema, table, column, description) for every published table; amounts in
    ``currency`` (ISO 4217)."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    values_cols = {c: d["description"] for c, d in models["fct_kpi_values"]["columns"].items()}
    rows: list[dict[str, str]] = []
    units = team_units(tree)
    per_kpi_money = f"For a money KPI, in {currency}, rounded to the cent."

    def add(schema: str, table: str, column: str, text: str) -> None:
        base = table.removesuffix(LATEST).replace("mid_month_check", "kpi_vs_target")
        if column and base in LONG_TABLES and column in LONG_TABLES[base][1]:
            text = f"{text.rstrip()} {per_kpi_money}"
        column = RENAMED.get(column, column)
        rows.append({"schema": schema, "table": table, "column": column, "description": text})

    for unit, team in units.items():
        mart = f"{unit}_kpis"
        add(unit, mart, "", models[mart]["description"])
        for col in ("grain", "period_start", "period_end", "dimension", "member"):
            add(unit, mart, col, values_cols[col])
        for node in (n for n in tree.nodes.values() if n.team == team):
            add(unit, mart, node.id, kpi_column(tree, node, currency))
            if node.kind == "ratio":
                for part in ("numerator", "denominator"):
                    measure = tree.measures[getattr(node, part)]
                    amount = f", {currency}" if measure.unit == "money" else ""
                    add(unit, mart, f"{node.id}__{part}", f"Σ {measure.en}{amount}")
        add(unit, mart, "is_provisional", values_cols["is_provisional"])
        add(
            unit,
            "kpi_values",
            "",
            f"{models['fct_kpi_values']['description'].strip()} "
            f"The rows of the KPIs {tree.teams[team]['en']} owns.",
        )
    add(
        SHARED_UNIT,
        "kpi_values",
        "",
        "Every team's published kpi_values in one table: the whole tree, each team as last "
        "published.",
    )
    add(
        SHARED_UNIT,
        "kpi_vs_target",
        "",
        "Every team's published kpi_vs_target in one table: the pace of the whole tree, one "
        "row per as-of day (filter as_of_day, or read kpi_vs_target_latest).",
    )
    for unit, team in units.items():
        add(
            unit,
            "kpi_vs_target",
            "",
            f"{models['fct_kpi_vs_target']['description'].strip()} "
            f"The rows of the KPIs {tree.teams[team]['en']} owns.",
        )
    for table, model in PUBLISHED_FROM.items():
        schema_tables = [*units, SHARED_UNIT] if table in PER_TEAM else [SHARED_UNIT]
        for schema in schema_tables:
            if table not in PER_TEAM:
                add(schema, table, "", models[model]["description"])
            for col, text in models[model]["columns"].items():
                add(schema, table, col, text["description"] or "")
    # views over kpi_vs_target: their columns are that table's
    add(SHARED_UNIT, "mid_month_check", "", models["mid_month_check"]["description"])
    pace_columns = models["fct_kpi_vs_target"]["columns"].items()
    for col, text in pace_columns:
        add(SHARED_UNIT, "mid_month_check", col, text["description"] or "")
    latest = {
        (schema, f"kpi_vs_target{LATEST}"): "kpi_vs_target at its newest as-of day only: "
        + ("each team's newest published day." if schema == SHARED_UNIT else "the newest day.")
        for schema in [*units, SHARED_UNIT]
    }
    latest[(SHARED_UNIT, f"mid_month_check{LATEST}")] = (
        "mid_month_check at each team's newest check day: this month's 月中检."
    )
    for (schema, view), about in latest.items():
        add(schema, view, "", about)
        for col, text in pace_columns:
            add(schema, view, col, text["description"] or "")
    for node in tree.nodes.values():
        add(SHARED_UNIT, "kpi_nodes", f"kpi_id = {node.id}", kpi_column(tree, node, currency))
    for col, text in TRACE_COLUMNS.items():
        add("*", "*", col, text)
    add("main", "publication_log", "", LOG_DESCRIPTION)
    for col, text in LOG_COLUMN_DESCRIPTIONS.items():
        add("main", "publication_log", col, text)
    add(SHARED_UNIT, "data_dictionary", "", "Every published table, view and column, described.")
    for col, text in DICTIONARY_COLUMNS.items():
        add(SHARED_UNIT, "data_dictionary", col, text)
    return rows


def to_markdown(rows: list[dict[str, str]]) -> str:
    out = ["| table | column | description |", "|---|---|---|"]
    for r in rows:
        text = r["description"].replace("|", "\\|").replace("\n", " ")
        out.append(f"| {r['schema']}.{r['table']} | {r['column']} | {text} |")
    return "\n".join(out) + "\n"
