"""The tree's dbt models, generated from ``tree.yaml`` as plain SQL files that are committed.

A dbt user reviewing a change to the tree reads it as a diff of these files: each base
measure's expression (``fct_base_measures``) and each KPI's measures, formula, dimensions and
maturity (``fct_kpi_values``) are spelled out, one line or one branch each, rather than
computed by a Jinja loop over ``kpi_tree()`` at compile time. They are written lint-clean
(``.sqlfluff``; tests/test_sql_lint.py lints them with the rest). What stays Jinja is
what is not the tree's: ``ref()``, the engine-dispatched macros (``kpi_period_start``,
``kpi_incremental_by_period``, ``dbt.*``) and the loop over the project's grains
(``kpi_grains()``), so the same file builds on DuckDB and on Spark.

``python -m kpi_tree.dbt_export`` writes them; ``--check`` fails naming the stale ones.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

REGENERATE = ".venv/bin/python -m kpi_tree.dbt_export"

#: the generated models, by path under the dbt project
FCT_KPI_VALUES = Path("models/marts/kpi/fct_kpi_values.sql")
DIM_KPI_NODES = Path("models/marts/kpi/dim_kpi_nodes.sql")
FCT_KPI_AVAILABILITY = Path("models/marts/kpi/fct_kpi_availability.sql")
FCT_SOURCE_GAPS = Path("models/marts/kpi/fct_source_gaps.sql")
STG_SOURCE_DAYS = Path("models/staging/stg_shop__source_days.sql")

_NUM = "num_value"
_DEN = "den_value"


def _header(description: str) -> str:
    return (
        "{#\n"
        "  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.\n"
        f"  Regenerate: `{REGENERATE}`\n"
        f"  Check (exits 1 while this file is stale): `{REGENERATE} --check`\n"
        "\n" + description.strip("\n") + "\n#}\n"
    )


def _quote(text: str) -> str:
    text = str(text)
    if any(mark in text for mark in ("{{", "{%", "{#")):
        # dbt would read it as Jinja, not as the text it is
        raise ValueError(
            f"kpi_tree/tree.yaml: {text!r} holds a Jinja delimiter ({{{{, {{% or {{#); "
            "rename it without one"
        )
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    """A literal the engines read as the same double (1000.0, 0.9): never an exponent form."""
    text = repr(float(value))
    if "e" in text or "inf" in text or "nan" in text:
        raise ValueError(f"the tree's number {value!r} has no plain SQL literal")
    return text


def _values(alias: str, columns: list[str], rows: list[list[str]], empty: str) -> str:
    """An inline table (``from values``, which DuckDB and Spark both read) of ``rows``, each a
    line of lines of SQL literals (a line holds the tuples of one KPI); ``empty``, a ``select``
    of the same columns, when there are none."""
    if not rows:
        return f"    {empty}\n    where 1 = 0"
    lines = ",\n".join(f"        {line}" for line in rows)
    return f"    select * from values\n{lines}\n            as {alias} ({', '.join(columns)})"


def _tuples(tuples: list[list[str]]) -> list[str]:
    """One tuple a line."""
    return ["(" + ", ".join(t) + ")" for t in tuples]


def _wrapped(tuples: list[str], width: int = 92) -> list[str]:
    """Tuples joined on lines no longer than ``width``."""
    lines, line = [], ""
    for t in tuples:
        if line and len(line) + 2 + len(t) > width:
            lines.append(line)
            line = t
        else:
            line = f"{line}, {t}" if line else t
    return [*lines, line] if line else lines


def _lookback(payload: dict) -> str:
    days = int(payload["maturity_days"])
    return f"{{%- set lookback = {days} -%}}  {{# maturity_days in tree.yaml #}}\n"


def _additive(payload: dict) -> list[dict]:
    return [n for n in payload["nodes"] if n["kind"] != "quantile"]


def _value_expression(node: dict) -> str:
    """A KPI's value from its period's numerator and denominator (doubles), as its formula in
    tree.yaml says: a sum is scale × Σnumerator, a ratio scale × Σnumerator / Σdenominator
    (unknown where the denominator is 0)."""
    scale = float(node["scale"])
    # 1 × x is x exactly; a written-out factor of 1 would only be noise
    factor = "" if scale == 1.0 else f"{_number(scale)} * "
    if node["kind"] == "sum":
        return f"{factor}{_NUM}"
    return f"case when {_DEN} <> 0 then {factor}{_NUM} / {_DEN} end"


def _when(node: dict) -> str:
    line = f"            when {_quote(node['id'])} then {_value_expression(node)}"
    if len(line) <= 100:
        return line
    return f"            when {_quote(node['id'])}\n                then {_value_expression(node)}"


def _formula_comment(node: dict) -> str:
    scale = float(node["scale"])
    factor = "" if scale == 1.0 else f"{_number(scale)} × "
    if node["kind"] == "sum":
        return f"{node['id']} = {factor}Σ {node['numerator']}"
    return f"{node['id']} = {factor}Σ {node['numerator']} / Σ {node['denominator']}"


_FCT_KPI_VALUES = Template("""\
{{ kpi_incremental_by_period('this') }}


with

base as (
    select * from {{ ref('fct_base_measures') }}
    where {{ kpi_days_for_window_periods('date_day', lookback) }}
),

as_of as (
    select {{ kpi_as_of_date('date_day') }} as as_of_date from {{ ref('fct_base_measures') }}
),

-- a KPI's day on which a source it reads is missing (fct_source_gaps): its value that day is
-- unknown, and its weeks and months are computed over the other days and flagged
gaps as (
    select kpi_id, date_day, source from {{ ref('fct_source_gaps') }}
    where {{ kpi_days_for_window_periods('date_day', lookback) }}
),

gap_days as (
    select distinct kpi_id, date_day from gaps
),

-- each additive KPI's formula: the measure it sums (numerator) and, for a ratio, the measure
-- it divides by (denominator)
node_formulas as (
$node_formulas
),

node_measures as (
    select kpi_id, numerator_measure as measure_id, 'num' as role from node_formulas
    union all
    select kpi_id, denominator_measure as measure_id, 'den' as role from node_formulas
    where denominator_measure is not null
),

node_days as (
    select
        node_measures.kpi_id,
        base.date_day,
        base.dimension,
        base.member,
        sum(case when node_measures.role = 'num' then base.value end) as num,
        sum(case when node_measures.role = 'den' then base.value end) as den
    from base
    inner join node_measures on base.measure_id = node_measures.measure_id
    left join gap_days
        on node_measures.kpi_id = gap_days.kpi_id and base.date_day = gap_days.date_day
    where gap_days.kpi_id is null
    group by 1, 2, 3, 4
),

periods as (
    {%- for grain in kpi_grains() %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'date_day') }} as period_start,
        kpi_id,
        dimension,
        member,
        sum(num) as num,
        sum(den) as den
    from node_days
    group by 1, 2, 3, 4, 5
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

-- what each KPI can be sliced by: its total and its dimensions
node_dimensions as (
$node_dimensions
),

additive_periods as (
    select
        periods.grain,
        periods.period_start,
        periods.kpi_id,
        periods.dimension,
        periods.member,
        node_formulas.denominator_measure is not null as has_den,
        cast(coalesce(periods.num, 0) as {{ kpi_double() }}) as num_value,
        cast(periods.den as {{ kpi_double() }}) as den_value
    from periods
    inner join node_formulas on periods.kpi_id = node_formulas.kpi_id
    inner join node_dimensions
        on periods.kpi_id = node_dimensions.kpi_id and periods.dimension = node_dimensions.dimension
    where (
        periods.num is not null
        or (node_formulas.denominator_measure is not null and periods.den is not null)
    )
),

-- each KPI's value, as its formula in tree.yaml: Σ over the period's days, never an average
-- of daily ratios
additive_nodes as (
    select
        grain,
        period_start,
        kpi_id,
        dimension,
        member,
        num_value as numerator,
        case when has_den then coalesce(den_value, 0) end as denominator,
$values
    from additive_periods
),

-- the days a source of the KPI is missing: a total row with no numbers
gap_nodes as (
    select
        cast('day' as {{ dbt.type_string() }}) as grain,
        date_day as period_start,
        kpi_id,
        cast('total' as {{ dbt.type_string() }}) as dimension,
        cast('(all)' as {{ dbt.type_string() }}) as member,
        cast(null as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator,
        cast(null as {{ kpi_double() }}) as value
    from gap_days
),

-- per KPI and period: how many of its days miss a source, and which sources
period_gaps as (
    {%- for grain in kpi_grains() %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'date_day') }} as period_start,
        kpi_id,
        date_day,
        source
    from gaps
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

period_gap_sources as (
    select distinct grain, period_start, kpi_id, source from period_gaps
),

gap_day_counts as (
    select grain, period_start, kpi_id, count(distinct date_day) as missing_days
    from period_gaps
    group by 1, 2, 3
),

gap_source_lists as (
    select
        grain,
        period_start,
        kpi_id,
        {{ dbt.listagg('source', "','", 'order by source') }} as gap_sources
    from period_gap_sources
    group by 1, 2, 3
),

gap_summary as (
    select
        days.grain,
        days.period_start,
        days.kpi_id,
        days.missing_days,
        sources.gap_sources
    from gap_day_counts as days
    inner join gap_source_lists as sources
        on days.grain = sources.grain and days.period_start = sources.period_start
        and days.kpi_id = sources.kpi_id
),

$quantiles

availability as (
    select kpi_id, is_available, missing_sources from {{ ref('fct_kpi_availability') }}
),

-- the KPIs the shop cannot compute: a total row for every period, with no numbers
unavailable_nodes as (
    select
        computed_periods.grain,
        computed_periods.period_start,
        availability.kpi_id,
        cast('total' as {{ dbt.type_string() }}) as dimension,
        cast('(all)' as {{ dbt.type_string() }}) as member,
        cast(null as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator,
        cast(null as {{ kpi_double() }}) as value
    from (select distinct grain, period_start from periods) as computed_periods
    cross join availability
    where not availability.is_available
),

computed_nodes as (
    select * from additive_nodes
    union all
    select * from quantile_nodes
    union all
    select * from gap_nodes
),

nodes as (
    select * from computed_nodes
    where
        kpi_id in (
            select availability.kpi_id from availability
            where availability.is_available
        )
    union all
    select * from unavailable_nodes
),

-- the KPIs that read a fact that matures late: provisional within maturity_days of the newest day
late_nodes as (
$late_nodes
),

final as (
    select
        nodes.grain,
        nodes.period_start,
        case nodes.grain
            {%- for grain in kpi_grains() %}
            when '{{ grain }}' then {{ kpi_period_end(grain, 'nodes.period_start') }}
            {%- endfor %}
        end as period_end,
        nodes.kpi_id,
        nodes.dimension,
        nodes.member,
        nodes.numerator,
        nodes.denominator,
        nodes.value,
        (
            late_nodes.matures_late
            and case nodes.grain
                {%- for grain in kpi_grains() %}
                when '{{ grain }}' then {{ kpi_period_end(grain, 'nodes.period_start') }}
                {%- endfor %}
            end > {{ dbt.dateadd('day', -1 * lookback, 'as_of.as_of_date') }}
            and availability.is_available
        ) as is_provisional,
        as_of.as_of_date,
        availability.missing_sources,
        coalesce(gap_summary.missing_days, 0) as missing_days,
        gap_summary.gap_sources,
        -- beside the observed value, what it is expected to reach (issue 41, part 1)
        expected.expected_value,
        expected.expected_numerator,
        expected.expected_denominator,
        expected.basis_first_cohort as expected_basis_first_cohort,
        expected.basis_last_cohort as expected_basis_last_cohort,
        expected.basis_cohorts as expected_basis_cohorts,
        expected.youngest_age as expected_youngest_age
    from nodes
    inner join late_nodes on nodes.kpi_id = late_nodes.kpi_id
    inner join availability on nodes.kpi_id = availability.kpi_id
    left join gap_summary
        on nodes.grain = gap_summary.grain and nodes.period_start = gap_summary.period_start
        and nodes.kpi_id = gap_summary.kpi_id
    cross join as_of
    left join {{ ref('fct_kpi_expected') }} as expected
        on nodes.grain = expected.grain
        and nodes.period_start = expected.period_start
        and nodes.kpi_id = expected.kpi_id
        and nodes.dimension = expected.dimension
        and nodes.member = expected.member
        and availability.is_available
    where {{ kpi_periods_in_window('nodes.grain', 'nodes.period_start', lookback) }}
)

select * from final
""")

_FCT_KPI_VALUES_DESCRIPTION = """\
  Every KPI of the tree at every grain (day, ISO week, month), for the total and for each
  of the node's dimensions: numerator, denominator and value. A sum node is Σmeasure, a
  ratio node scale × Σnumerator / Σdenominator over the period's days (never an average of
  daily ratios), a quantile node is computed from the fact rows of the period. Rows of nodes
  that depend on late-maturing facts are provisional while their period ends within
  maturity_days of the newest day; rows outside a run's window are cleared by the post-hook
  once they mature.

  A KPI the shop cannot compute (a source it reads was never delivered: fct_kpi_availability)
  has one total row a period, with no numbers and the sources it misses, never a 0."""

_TEXT = "{{ dbt.type_string() }}"
_DOUBLE = "{{ kpi_double() }}"

_QUANTILES_EMPTY = f"""\
quantile_nodes as (
    select
        cast(null as {_TEXT}) as grain, cast(null as date) as period_start,
        cast(null as {_TEXT}) as kpi_id, cast(null as {_TEXT}) as dimension,
        cast(null as {_TEXT}) as member, cast(null as {_DOUBLE}) as numerator,
        cast(null as {_DOUBLE}) as denominator, cast(null as {_DOUBLE}) as value
    where 1 = 0
),"""

_QUANTILES = Template("""\
-- A percentile is read off the period's histogram: each distinct value with its count, ranked
-- with window functions. It is exact, with percentile_cont's interpolation: between the values
-- at positions floor(h) and ceil(h) of the sorted rows, h = (n - 1) × q. A percentile aggregate
-- holds every row of its group in memory and cannot spill to disk (a large shop's year does
-- not fit); a histogram has one row per distinct value, and the window sorts spill.
quantile_histogram as (
    {%- for grain in kpi_grains() %}
$branches
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

quantile_ranked as (
    select
        grain, period_start, kpi_id, dimension, member,
        x,
        c,
        sum(c) over (
            partition by grain, period_start, kpi_id, dimension, member
            order by x rows between unbounded preceding and current row
        ) - c as rows_below,
        (sum(c) over (partition by grain, period_start, kpi_id, dimension, member) - 1) * q as h
    from quantile_histogram
),

quantile_bounds as (
    select
        grain, period_start, kpi_id, dimension, member,
        sum(c) as n,
        max(h) as h,
        max(case when rows_below <= floor(h) and floor(h) < rows_below + c then x end) as x_low,
        max(case when rows_below <= ceil(h) and ceil(h) < rows_below + c then x end) as x_high
    from quantile_ranked
    group by 1, 2, 3, 4, 5
),

quantile_nodes as (
    select
        grain, period_start, kpi_id, dimension, member,
        cast(n as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator,
        x_low + (h - floor(h)) * (x_high - x_low) as value
    from quantile_bounds
),""")


def _quantile_branch(payload: dict, node: dict, dimension: str) -> str:
    fact = payload["facts"][node["quantile_fact"]]
    date = fact["date"]
    if dimension == "total":
        member = "'(all)'"
    else:
        member = f"coalesce(cast({fact['dimensions'][dimension]} as {_TEXT}), '(none)')"
    return f"""\
    -- {node["id"]}: the {_number(node["quantile"])} quantile of {node["quantile_of"]} over \
{node["quantile_fact"]}, {dimension}
    select
        '{{{{ grain }}}}' as grain,
        {{{{ kpi_period_start(grain, {_quote(date)}) }}}} as period_start,
        {_quote(node["id"])} as kpi_id,
        {_quote(dimension)} as dimension,
        {member} as member,
        cast({_number(node["quantile"])} as {_DOUBLE}) as q,
        cast({node["quantile_of"]} as {_DOUBLE}) as x,
        count(*) as c
    from {{{{ ref({_quote(fact["model"])}) }}}}
    where {node["quantile_of"]} is not null
        and {{{{ kpi_days_for_window_periods({_quote(date)}, lookback) }}}}
    group by 1, 2, 3, 4, 5, 6, 7"""


def render_fct_kpi_values(payload: dict) -> str:
    additive = _additive(payload)
    formulas = _tuples(
        [
            [
                _quote(n["id"]),
                _quote(n["numerator"]),
                _quote(n["denominator"]) if n["denominator"] else "null",
            ]
            for n in additive
        ]
    )
    # one line (or a few) a KPI: its total and each dimension it is sliced by
    dimensions = [
        line
        for n in additive
        for line in _wrapped(
            [f"({_quote(n['id'])}, {_quote(dim)})" for dim in ["total", *n["dimensions"]]]
        )
    ]
    if additive:
        branches = "\n".join(f"            -- {_formula_comment(n)}\n{_when(n)}" for n in additive)
        values = f"        case kpi_id\n{branches}\n        end as value"
    else:
        values = f"        cast(null as {_DOUBLE}) as value"
    late = _tuples(
        [[_quote(n["id"]), "true" if n["matures"] else "false"] for n in payload["nodes"]]
    )
    quantile_branches = [
        _quantile_branch(payload, n, dim)
        for n in payload["nodes"]
        if n["kind"] == "quantile"
        for dim in ["total", *n["dimensions"]]
    ]
    quantiles = (
        _QUANTILES.substitute(branches="\n    union all\n".join(quantile_branches))
        if quantile_branches
        else _QUANTILES_EMPTY
    )
    empty_text = f"cast(null as {_TEXT})"
    body = _FCT_KPI_VALUES.substitute(
        node_formulas=_values(
            "formulas",
            ["kpi_id", "numerator_measure", "denominator_measure"],
            formulas,
            f"select {empty_text} as kpi_id, {empty_text} as numerator_measure, "
            f"{empty_text} as denominator_measure",
        ),
        node_dimensions=_values(
            "dimensions",
            ["kpi_id", "dimension"],
            dimensions,
            f"select {empty_text} as kpi_id, {empty_text} as dimension",
        ),
        values=values,
        quantiles=quantiles,
        late_nodes=_values(
            "late",
            ["kpi_id", "matures_late"],
            late,
            f"select {empty_text} as kpi_id, false as matures_late",
        ),
    )
    return _header(_FCT_KPI_VALUES_DESCRIPTION) + _lookback(payload) + body


def _text_or_null(value: str | None) -> str:
    return _quote(value) if value else "null"


def render_dim_kpi_nodes(payload: dict) -> str:
    teams = payload["teams"]
    blocks = []
    for order, n in enumerate(payload["nodes"], start=1):
        text = {
            "kpi_id": _quote(n["id"]),
            "name_en": _quote(n["en"]),
            "name_zh": _quote(n["zh"]),
            "unit": _quote(n["unit"]),
            "team": _quote(n["team"]),
            "team_en": _quote(teams[n["team"]]["en"]),
            "team_zh": _quote(teams[n["team"]]["zh"]),
            "direction": _quote(n["direction"]),
            "formula_kind": _quote(n["kind"]),
            "numerator_measure": _text_or_null(n["numerator"]),
            "denominator_measure": _text_or_null(n["denominator"]),
        }
        doubles = {
            "scale": _number(n["scale"]),
            "quantile": _number(n["quantile"]) if n["quantile"] is not None else "null",
        }
        rest = {
            "dimensions": _quote(",".join(n["dimensions"])),
            "parent_kpi_id": _text_or_null(n["parent"]),
            "relation_to_parent": _text_or_null(n["relation"]),
        }
        lines = [f"cast({v} as {{{{ text }}}}) as {k}" for k, v in text.items()]
        lines += [f"cast({v} as {{{{ kpi_double() }}}}) as {k}" for k, v in doubles.items()]
        lines += [f"cast({v} as {{{{ text }}}}) as {k}" for k, v in rest.items()]
        lines.append(f"{order} as tree_order")
        columns = ",\n".join(f"        {line}" for line in lines)
        blocks.append(f"    -- {n['id']}\n    select\n{columns}")
    body = "\n    union all\n".join(blocks)
    return (
        _header(
            "  The tree's nodes as a table, for BI tools to draw: one select a node, in the\n"
            "  tree's depth-first order."
        )
        + "{%- set text = dbt.type_string() -%}\n\nwith\n\nnodes as (\n"
        + body
        + "\n)\n\nselect * from nodes\n"
    )


_FCT_KPI_AVAILABILITY = Template("""\
with

delivered as (
    select distinct source from {{ ref('stg_shop__source_days') }}
),

-- the tree's sources, in its order, with the names a reason uses
sources as (
$sources
),

-- every source each node reads
needs as (
$needs
),

missing as (
    select
        needs.kpi_id,
        {{ dbt.listagg('sources.source', "','", 'order by sources.source_order') }}
            as missing_sources,
        {{ dbt.listagg('sources.name_en', "', '", 'order by sources.source_order') }} as names_en,
        {{ dbt.listagg('sources.name_zh', "'、'", 'order by sources.source_order') }} as names_zh
    from needs
    inner join sources on needs.source = sources.source
    left join delivered on needs.source = delivered.source
    where delivered.source is null
    group by needs.kpi_id
),

-- each node's team and the sources it reads
nodes as (
$nodes
),

final as (
    select
        nodes.kpi_id,
        nodes.team,
        nodes.sources,
        missing.missing_sources,
        missing.kpi_id is null as is_available,
        case when missing.kpi_id is not null then 'needs ' || missing.names_en end as reason_en,
        case when missing.kpi_id is not null then '需要' || missing.names_zh || '数据' end
            as reason_zh
    from nodes
    left join missing on nodes.kpi_id = missing.kpi_id
)

select * from final
""")

_FCT_KPI_AVAILABILITY_DESCRIPTION = """\
  Which KPIs the shop can compute: one row per node of the tree with the sources it reads
  (kpi_tree/tree.yaml: its measures' facts and their `needs`, derived by Tree.node_sources)
  and those of them the shop has never delivered (no row in stg_shop__source_days). A KPI
  with a missing source is not available: its values are null, with the reason, in
  fct_kpi_values; no gate, pace or alert judges it."""


def render_fct_kpi_availability(payload: dict) -> str:
    sources = [
        [_quote(src["id"]), str(order), _quote(src["en"]), _quote(src["zh"])]
        for order, src in enumerate(payload["sources"], start=1)
    ]
    # one line (or a few) a node
    needs = [
        line
        for n in payload["nodes"]
        for line in _wrapped(
            [
                f"({_quote(n['id'])}, {_quote(src['id'])})"
                for src in payload["sources"]
                if src["id"] in n["sources"]
            ]
        )
    ]
    nodes = [
        [_quote(n["id"]), _quote(n["team"]), _quote(",".join(n["sources"]))]
        for n in payload["nodes"]
    ]
    text = f"cast(null as {_TEXT})"
    body = _FCT_KPI_AVAILABILITY.substitute(
        sources=_values(
            "sources",
            ["source", "source_order", "name_en", "name_zh"],
            _tuples(sources),
            f"select {text} as source, 0 as source_order, {text} as name_en, {text} as name_zh",
        ),
        needs=_values(
            "needs",
            ["kpi_id", "source"],
            needs,
            f"select {text} as kpi_id, {text} as source",
        ),
        nodes=_values(
            "nodes",
            ["kpi_id", "team", "sources"],
            _tuples(nodes),
            f"select {text} as kpi_id, {text} as team, {text} as sources",
        ),
    )
    return _header(_FCT_KPI_AVAILABILITY_DESCRIPTION) + body


_FCT_SOURCE_GAPS = Template("""\
with

-- the measures of each fact made of one source alone that does not mature: their source
measure_facts as (
$measure_facts
),

present as (
    select distinct base.date_day, measure_facts.source
    from {{ ref('fct_base_measures') }} as base
    inner join measure_facts on base.measure_id = measure_facts.measure_id
    where base.dimension = 'total'
),

days as (
    select distinct date_day from {{ ref('fct_base_measures') }}
),

spans as (
    select source, min(date_day) as first_day
    from present
    group by source
),

-- the KPIs each source dates
affected as (
$affected
),

final as (
    select
        spans.source,
        days.date_day,
        affected.kpi_id
    from spans
    cross join days
    inner join affected on spans.source = affected.source
    left join present
        on spans.source = present.source and days.date_day = present.date_day
    where
        days.date_day > spans.first_day
        and present.source is null
)

select * from final
""")

_FCT_SOURCE_GAPS_DESCRIPTION = """\
  The days a source is missing: one row per source and business day on which the warehouse
  holds rows of other sources but none of this one, after its first day. Only a source that
  alone makes a fact with its own day (sessions, ad spend, conversations, orders): an order's
  lines have no day of their own, and shipments count on their order's day, where a recent
  day without outcomes is normal. A source the shop never delivered is not here (its KPIs
  are not available at all: fct_kpi_availability). A day on which no source delivered
  anything is not a business day the warehouse knows, so it is not listed either.

  That day, every KPI that reads the source is unknown (null in fct_kpi_values, never 0), and
  a week or month holding the day is computed over the other days and flagged incomplete.
  The quality gate holds back each unit owning such a KPI until the day is repaired (its
  file lands) or an operator accepts the gap (`kpi gaps accept SOURCE DAY --reason ...`)."""


def render_fct_source_gaps(payload: dict) -> str:
    facts = payload["facts"]
    gap_facts = [fid for fid, f in facts.items() if len(f["sources"]) == 1 and not f["matures"]]
    measure_facts = [
        [_quote(mid), _quote(facts[m["fact"]]["sources"][0])]
        for mid, m in payload["measures"].items()
        if m["fact"] in gap_facts
    ]
    affected = [
        [_quote(facts[fid]["sources"][0]), _quote(n["id"])]
        for fid in gap_facts
        for n in payload["nodes"]
        if fid in n["facts"]
    ]
    text = f"cast(null as {_TEXT})"
    body = _FCT_SOURCE_GAPS.substitute(
        measure_facts=_values(
            "measure_facts",
            ["measure_id", "source"],
            _tuples(measure_facts),
            f"select {text} as measure_id, {text} as source",
        ),
        affected=_values(
            "affected",
            ["source", "kpi_id"],
            _tuples(affected),
            f"select {text} as source, {text} as kpi_id",
        ),
    )
    return _header(_FCT_SOURCE_GAPS_DESCRIPTION) + body


_STG_SOURCE_DAYS_DESCRIPTION = """\
  What the shop delivers: one row per source x delivery day that has rows of the source,
  with how many. A source with no row here has never been delivered, and every KPI that
  reads it is not available (fct_kpi_availability). The sources are the tree's
  (kpi_tree/tree.yaml `sources`), each read from its raw table, which ingestion creates from
  the source's contract before anything lands, so a source the shop does not have is an
  empty table, not a missing one.

  Per day, so that a source missing on single days can be told from one never delivered.
  Incremental by delivery day like the base measures: a run replaces its window's days."""


def render_stg_source_days(payload: dict) -> str:
    branches = [
        f"""\
    select
        cast({_quote(src["id"])} as {_TEXT}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{{{ source('shop', {_quote(src["id"])}) }}}}
    where {{{{ kpi_in_window('_partition_date', lookback) }}}}
    group by _partition_date"""
        for src in payload["sources"]
    ]
    if not branches:
        raise ValueError("kpi_tree/tree.yaml: `sources` is empty; a tree reads at least one")
    return (
        _header(_STG_SOURCE_DAYS_DESCRIPTION)
        + _lookback(payload)
        + "{{ kpi_incremental_by_date('delivered_on') }}\n\nwith\n\nfinal as (\n"
        + "\n    union all\n".join(branches)
        + "\n)\n\nselect * from final\n"
    )


FCT_BASE_MEASURES = Path("models/marts/kpi/fct_base_measures.sql")
INT_SHIPMENT_DEVELOPMENT = Path("models/intermediate/int_shipment_development.sql")

_FCT_BASE_MEASURES_DESCRIPTION = """\
  Daily base measures, long: one row per business day x dimension x member x measure, for
  the total (dimension 'total', member '(all)') and for every dimension of the measure's
  fact. Per fact (tree.yaml `facts`): its rows with each measure's expression (`measures`),
  summed by day for the total and for each dimension, then turned long
  (kpi_measures_long, dispatched per engine). Incremental by date: a run replaces its
  window's days, reaching maturity_days back for late-maturing facts. A measure that reads a
  source beyond its fact's (`needs`) is null while the shop has not delivered it."""


def _measure_comment(measure_id: str, measure: dict) -> str:
    agg = "a count: 1 a row" if measure["agg"] == "count" else "a sum"
    return f"-- tree.yaml measures.{measure_id}, {agg}"


def _cast_exact(sql: str, alias: str, indent: str) -> str:
    """``cast(sql as exact) as alias``, on one line when it fits in 100 characters."""
    line = f"{indent}cast({sql} as {{{{ kpi_exact() }}}}) as {alias}"
    if len(line) <= 100:
        return line
    return f"{indent}cast(\n{indent}    {sql} as {{{{ kpi_exact() }}}}\n{indent}) as {alias}"


def _fact_rows(fact_id: str, fact: dict, measures: dict[str, dict]) -> str:
    date = fact["date"]
    lines = [f"        {date} as date_day"]
    for dim, column in fact["dimensions"].items():
        lines.append(f"        coalesce(cast({column} as {_TEXT}), '(none)') as dim_{dim}")
    for measure_id, measure in measures.items():
        comment = f"        {_measure_comment(measure_id, measure)}\n"
        extra = measure["extra_sources"]
        if extra:
            names = ", ".join(_quote(s) for s in extra)
            comment += (
                "        -- unknown (null), not 0, while the shop has not delivered "
                f"{', '.join(extra)}\n"
            )
            lines.append(
                f"{comment}        case\n"
                f"            when {{{{ kpi_sources_delivered([{names}]) }}}}\n"
                f"                then cast({measure['sql']} as {{{{ kpi_exact() }}}})\n"
                f"        end as m_{measure_id}"
            )
        else:
            lines.append(comment + _cast_exact(measure["sql"], f"m_{measure_id}", " " * 8))
    columns = ",\n".join(lines)
    return (
        f"-- tree.yaml facts.{fact_id}: a row of {fact['model']}, on its {date}\n"
        f"{fact_id}_rows as (\n"
        f"    select\n{columns}\n"
        f"    from {{{{ ref({_quote(fact['model'])}) }}}}\n"
        f"    where\n"
        f"        {date} is not null\n"
        f"        and {{{{ kpi_in_window({_quote(date)}, lookback) }}}}\n"
        f")"
    )


def _fact_by(fact_id: str, dim: str, measure_ids: list[str]) -> str:
    member = "'(all)'" if dim == "total" else f"dim_{dim}"
    sums = ",\n".join(f"        sum(m_{m}) as m_{m}" for m in measure_ids)
    return (
        f"{fact_id}_by_{dim} as (\n"
        f"    select\n"
        f"        date_day,\n"
        f"        '{dim}' as dimension,\n"
        f"        {member} as member,\n"
        f"{sums}\n"
        f"    from {fact_id}_rows\n"
        f"    group by 1, 2, 3\n"
        f")"
    )


def render_fct_base_measures(payload: dict) -> str:
    ctes, lists, longs = [], [], []
    for fact_id, fact in payload["facts"].items():
        measures = {mid: m for mid, m in payload["measures"].items() if m["fact"] == fact_id}
        if not measures:
            continue
        ctes.append(_fact_rows(fact_id, fact, measures))
        names = _wrapped([_quote(m) for m in measures], width=88)
        lists.append(
            f"{{%- set {fact_id}_measures = [\n"
            + ",\n".join(f"    {line}" for line in names)
            + "\n] -%}\n"
        )
        for dim in ["total", *fact["dimensions"]]:
            ctes.append(_fact_by(fact_id, dim, list(measures)))
            longs.append(
                f"    {{{{ kpi_measures_long('{fact_id}_by_{dim}', {fact_id}_measures) }}}}"
            )
    if not longs:
        raise ValueError("kpi_tree/tree.yaml: `measures` is empty; a tree has at least one")
    return (
        _header(_FCT_BASE_MEASURES_DESCRIPTION)
        + _lookback(payload)
        + "{#- each fact's measures, as its aggregates' columns m_<measure> -#}\n"
        + "".join(lists)
        + "{{ kpi_incremental_by_date('date_day') }}\n\nwith\n\n"
        + ",\n\n".join(ctes)
        + ",\n\n-- each aggregate turned long: one row a measure\nfinal as (\n"
        + "\n    union all\n".join(longs)
        + "\n)\n\nselect * from final\n"
    )


_INT_SHIPMENT_DEVELOPMENT_DESCRIPTION = """\
  How each mature cohort of shipments developed with its age (0 to maturity_days): per
  cohort (the order's business day), dimension, member, measure and age, the change of the
  measure's value at that age (`change`: the cohort's value at age a is the sum of its
  changes up to a); and per cohort, dimension and member the shipments it held (`row_count`,
  measure_id null). fct_completion_factors sums the basis window's cohorts into the
  completion pattern; only a measure's dimensions that its exposure has are developed.

  A shipment's state at the end of each business day on which it changed (its day's last
  update) counts in its cohort from the later of that day and its order's (`age`); a state
  known after maturity_days never counts. A cohort is developed once it is mature, and again
  only when a delivery changes what it held before maturity: an update of a business day
  within maturity_days of its order's delivered late, an order delivered again, or a
  rerun of a night it was developed from (`delivered_on`, on its row of dimension 'total').
  So a night develops the cohort that matured that day, not every cohort of the basis
  window again; a first build (or a run with no window) develops every cohort of the basis
  window (the newest maturity_days + basis_days days, kpi_tree/tree.yaml `completion`).
  Kept by cohort (kpi_incremental_by_cohort)."""

_INT_SHIPMENT_DEVELOPMENT = Template("""\
{{ kpi_incremental_by_cohort('cohort_date') }}
-- depends_on: {{ ref('stg_shop__orders') }}  (read on a windowed run only)

with

-- the cohorts' clock, as fct_completion_factors reads it: the newest day of the base measures
as_of as (
    select
        {{ dbt.dateadd('day', 1 - span, 'max(date_day)') }} as basis_first,
        {{ dbt.dateadd('day', -1 * maturity, 'max(date_day)') }} as basis_last
    from {{ ref('fct_base_measures') }}
),

{% if is_incremental() and kpi_has_window() -%}
-- the cohorts developed already, with the newest delivery they were derived from
developed as (
    select
        cohort_date,
        max(delivered_on) as delivered_on
    from {{ this }}
    group by 1
),

-- the window's updates of a business day on which a developed cohort was not yet mature
late_updates as (
    select
        shipment_id,
        updated_on
    from {{ ref('stg_shop__shipments') }}
    where
        {{ kpi_in_window('delivered_on') }}
        and updated_on <= (
            select {{ dbt.dateadd('day', maturity, 'max(cohort_date)') }} from developed
        )
),

-- the developed cohorts the window changed before their maturity: a late update, an order
-- delivered again, or a rerun of a night they were developed from
changed as (
    select latest.order_business_date as cohort_date
    from late_updates
    inner join {{ ref('int_shipments_latest') }} as latest
        on late_updates.shipment_id = latest.shipment_id
    {{ kpi_key_range_join('latest.shipment_id', 'select shipment_id from late_updates') }}
    where
        late_updates.updated_on
        <= {{ dbt.dateadd('day', maturity, 'latest.order_business_date') }}
    union all
    select business_date as cohort_date
    from {{ ref('stg_shop__orders') }}
    where
        {{ kpi_in_window('delivered_on') }}
        and business_date <= (select max(cohort_date) from developed)
    union all
    select cohort_date
    from developed
    where delivered_on >= {{ kpi_window_start() }}
),

{% endif -%}
-- the cohorts this run develops: those of the basis window that matured since they were
-- last developed, and those changed (every one on a first build or without a window)
to_develop as (
    select latest.order_business_date as cohort_date
    from {{ ref('int_shipments_latest') }} as latest
    cross join as_of
    where latest.order_business_date between as_of.basis_first and as_of.basis_last
    {%- if is_incremental() and kpi_has_window() %}
        and latest.order_business_date not in (select cohort_date from developed)
    union
    select changed.cohort_date
    from changed
    cross join as_of
    where changed.cohort_date between as_of.basis_first and as_of.basis_last
    {%- else %}
    group by 1
    {%- endif %}
),

cohort as (
    select
        shipment_id,
        order_id,
        order_business_date,
        channel,
        campaign,
        order_amount,
        delivered_on
    from {{ ref('int_shipments_latest') }}
    where order_business_date in (select to_develop.cohort_date from to_develop)
),

-- every update of those shipments (read within the range of their keys, joined as one row:
-- none when no cohort is developed tonight)
updates as (
    select
        shipment_updates.shipment_id,
        shipment_updates.carrier,
        shipment_updates.payment_method,
        shipment_updates.status,
        shipment_updates.shipped_at,
        shipment_updates.delivered_at,
        shipment_updates.returned_at,
        shipment_updates.refund_amount,
        shipment_updates.updated_at,
        shipment_updates.updated_on,
        shipment_updates.delivered_on
    from {{ ref('stg_shop__shipments') }} as shipment_updates
    {{ kpi_key_range_join('shipment_updates.shipment_id', 'select shipment_id from cohort') }}
    where shipment_updates.shipment_id in (select cohort.shipment_id from cohort)
),

-- each update known by its cohort's maturity, with the columns of int_shipments_latest and
-- its age: it counts from the later of its day and its order's
states as (
    select
        cohort.shipment_id,
        cohort.order_id,
        cohort.order_business_date,
        cohort.channel,
        cohort.campaign,
        cohort.order_amount,
        updates.carrier,
        updates.payment_method,
        updates.status,
        updates.shipped_at,
        updates.delivered_at,
        updates.returned_at,
        updates.refund_amount,
        updates.updated_at,
        updates.delivered_on,
        {{ dbt.datediff('updates.shipped_at', 'updates.delivered_at', 'second') }} / 86400.0
            as delivery_days,
        {{ dbt.datediff(
            'cohort.order_business_date',
            'greatest(updates.updated_on, cohort.order_business_date)',
            'day'
        ) }} as age
    from updates
    inner join cohort on updates.shipment_id = cohort.shipment_id
    where updates.updated_on <= {{ dbt.dateadd('day', maturity, 'cohort.order_business_date') }}
),

-- each update's members and measures, and the age at which the next update replaced it. A
-- shipment's state at an age is its last update of that age (the day's last, by updated_at
-- as int_shipments_latest ranks them): an update replaced at its own age adds and takes back
-- its values at that age, and so counts for nothing
valued as (
    select
        $key as row_key,
        order_business_date as cohort_date,
        age,
        lead(age) over (
            partition by $key order by age, updated_at, delivered_on
        ) as next_age,
$dims,
$values
    from states
),

-- the dimensions the measures are developed by (those of their exposure), and the total
dimensions as (
$dimension_rows
),

-- the states summed by cohort, ages and members before they are crossed with the
-- dimensions: many shipments share them
grouped as (
    select
        cohort_date,
        age,
        next_age,
$grouped_dims,
$summed
    from valued
    group by $grouped_keys
),

-- a state adds its values from its age on, in each dimension, and takes them back at the
-- age the next state arrives (from its own member: a shipment's carrier or payment method
-- may change with its state); development_wide sums them
changes as (
    select
        grouped.cohort_date,
        grouped.age,
        dimensions.dimension,
$member,
$added
    from grouped
    cross join dimensions
    union all
    select
        grouped.cohort_date,
        grouped.next_age as age,
        dimensions.dimension,
$member,
$taken_back
    from grouped
    cross join dimensions
    where grouped.next_age is not null
),

development_wide as (
    select
        cohort_date,
        age,
        dimension,
        member,
$summed
    from changes
    group by 1, 2, 3, 4
),

development as (
    select
        cohort_date,
        dimension,
        member,
        measure_id,
        age,
        value as change
    from (
        {{ kpi_measures_long('development_wide', measures, keys) }}
    ) as long_rows$measure_filter
),

-- the shipments each cohort developed held (its states at the end of a day), with their
-- members, and its newest delivery
held as (
    select distinct
        cohort_date,
        row_key,
$held_dims
    from valued
    where next_age is null or next_age > age
),

cohort_counts as (
    select
        cohort_date,
        count(distinct row_key) as row_count
    from held
    group by 1
),

cohort_deliveries as (
    select
        order_business_date as cohort_date,
        max(delivered_on) as delivered_on
    from cohort
    group by 1
),

-- every cohort developed has its total, 0 when it has no shipment left (its earlier rows
-- are then replaced all the same)
cohort_rows as (
    select
        to_develop.cohort_date,
        'total' as dimension,
        '(all)' as member,
        coalesce(cohort_counts.row_count, 0) as row_count,
        cohort_deliveries.delivered_on
    from to_develop
    left join cohort_counts on to_develop.cohort_date = cohort_counts.cohort_date
    left join cohort_deliveries on to_develop.cohort_date = cohort_deliveries.cohort_date
),

-- every dimension of the fact (a carrier too)
row_dimensions as (
$row_dimension_rows
),

member_rows as (
    select
        held.cohort_date,
        row_dimensions.dimension,
$row_member,
        count(distinct held.row_key) as row_count,
        cast(null as date) as delivered_on
    from held
    cross join row_dimensions
    group by 1, 2, 3
),

rows_held as (
    select * from cohort_rows
    union all
    select * from member_rows
),

final as (
    select
        cohort_date,
        dimension,
        member,
        measure_id,
        age,
        change,
        cast(null as {{ dbt.type_bigint() }}) as row_count,
        cast(null as date) as delivered_on
    from development
    union all
    select
        cohort_date,
        dimension,
        member,
        cast(null as {{ dbt.type_string() }}) as measure_id,
        cast(null as {{ dbt.type_bigint() }}) as age,
        cast(null as {{ kpi_exact() }}) as change,
        row_count,
        delivered_on
    from rows_held
)

select * from final
""")


def _dimension_rows(names: list[str]) -> str:
    return "\n    union all\n".join(f"    select '{name}' as dimension" for name in names)


def _member_case(rows: str, relation: str, dims: list[str], pad: str, total: bool) -> str:
    """The member of each of ``dims`` (the total's '(all)' when ``total``) on a row of
    ``rows`` crossed with the dimensions ``relation``."""
    whens = "\n".join(f"{pad}    when '{d}' then {rows}.dim_{d}" for d in dims)
    otherwise = f"{pad}    else '(all)'\n" if total else ""
    return f"{pad}case {relation}.dimension\n{whens}\n{otherwise}{pad}end as member"


def _development_parts(payload: dict, fact_id: str) -> dict[str, str]:
    """The parts of the development model that name the fact's dimensions and measures."""
    fact = payload["facts"][fact_id]
    measures = {mid: m for mid, m in payload["measures"].items() if m["fact"] == fact_id}
    if not measures:
        raise ValueError(f"kpi_tree/tree.yaml: fact '{fact_id}' matures but has no measure")
    dims = list(fact["dimensions"])
    pad = " " * 8
    # per dimension, the measures whose exposure's fact has it (the total: every measure)
    by_dim: dict[str, list[str]] = {}
    for dim in dims:
        for mid, m in measures.items():
            if dim in payload["facts"][payload["measures"][m["exposure"]]["fact"]]["dimensions"]:
                by_dim.setdefault(dim, []).append(mid)
    developed = list(by_dim)
    partial = {d: mids for d, mids in by_dim.items() if mids != list(measures)}
    measure_filter = ""
    if partial:
        kept = " or ".join(
            f"(dimension = '{d}' and measure_id in ({', '.join(_quote(m) for m in mids)}))"
            for d, mids in partial.items()
        )
        measure_filter = (
            f"\n    where dimension not in ({', '.join(map(_quote, partial))}) or {kept}"
        )
    return {
        "key": fact["key"],
        "dims": ",\n".join(
            f"{pad}coalesce(cast({col} as {_TEXT}), '(none)') as dim_{dim}"
            for dim, col in fact["dimensions"].items()
        ),
        "values": ",\n".join(_cast_exact(m["sql"], f"m_{mid}", pad) for mid, m in measures.items()),
        "dimension_rows": _dimension_rows(["total", *developed]),
        "member": _member_case("grouped", "dimensions", developed, pad, total=True),
        "grouped_dims": ",\n".join(f"{pad}dim_{dim}" for dim in developed),
        "grouped_keys": ", ".join(str(i) for i in range(1, 4 + len(developed))),
        "held_dims": ",\n".join(f"{pad}dim_{dim}" for dim in dims),
        "added": ",\n".join(f"{pad}grouped.m_{mid}" for mid in measures),
        "taken_back": ",\n".join(f"{pad}-grouped.m_{mid} as m_{mid}" for mid in measures),
        "summed": ",\n".join(f"{pad}sum(m_{mid}) as m_{mid}" for mid in measures),
        "measure_list": ",\n".join(
            f"    {line}" for line in _wrapped([_quote(m) for m in measures], width=88)
        ),
        "measure_filter": measure_filter,
        "row_dimension_rows": _dimension_rows(dims),
        "row_member": _member_case("held", "row_dimensions", dims, pad, total=False),
    }


def render_int_shipment_development(payload: dict) -> str:
    maturity = int(payload["maturity_days"])
    basis = int(payload["completion"]["basis_days"])
    settings = (
        f"{{%- set maturity = {maturity} -%}}  {{# maturity_days in tree.yaml #}}\n"
        f"{{%- set span = {maturity + basis} -%}}  "
        f"{{# maturity_days ({maturity}) + completion.basis_days ({basis}) in tree.yaml #}}\n"
    )
    parts = _development_parts(payload, "shipments")
    settings += (
        "{#- the fact's measures, the development's columns m_<measure>, and its keys -#}\n"
        f"{{%- set measures = [\n{parts['measure_list']}\n] -%}}\n"
        "{%- set keys = ['cohort_date', 'age', 'dimension', 'member'] -%}\n"
    )
    body = _INT_SHIPMENT_DEVELOPMENT.substitute(parts)
    return _header(_INT_SHIPMENT_DEVELOPMENT_DESCRIPTION) + settings + body


def render_models(payload: dict) -> dict[Path, str]:
    """The generated models' text, by path under the dbt project."""
    return {
        FCT_KPI_VALUES: render_fct_kpi_values(payload),
        DIM_KPI_NODES: render_dim_kpi_nodes(payload),
        FCT_KPI_AVAILABILITY: render_fct_kpi_availability(payload),
        FCT_SOURCE_GAPS: render_fct_source_gaps(payload),
        STG_SOURCE_DAYS: render_stg_source_days(payload),
        FCT_BASE_MEASURES: render_fct_base_measures(payload),
        INT_SHIPMENT_DEVELOPMENT: render_int_shipment_development(payload),
    }
