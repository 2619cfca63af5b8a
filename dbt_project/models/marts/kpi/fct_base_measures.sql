{#
  Daily base measures, long: one row per business day x dimension x member x measure, for
  the total (dimension 'total', member '(all)') and for every dimension of the measure's
  fact. Generated from kpi_tree/tree.yaml (facts and measures); incremental by date: a run
  replaces its window's days, reaching maturity_days back for late-maturing facts. A measure
  that reads a source beyond its fact's (`needs`) is null while the shop has not delivered it.
#}
{%- set tree = kpi_tree() -%}
{%- set lookback = tree['maturity_days'] -%}
{{ kpi_incremental_by_date('date_day') }}

with
{% for fact_id, fact in tree['facts'].items() %}
{%- set fact_measures = [] -%}
{%- for measure_id, measure in tree['measures'].items() if measure['fact'] == fact_id -%}
    {%- do fact_measures.append(measure_id) -%}
{%- endfor %}
{{ fact_id }}_rows as (
    select
        {{ fact['date'] }} as date_day,
        {%- for dim, column in fact['dimensions'].items() %}
        coalesce(cast({{ column }} as {{ dbt.type_string() }}), '(none)') as dim_{{ dim }},
        {%- endfor %}
        {%- for measure_id in fact_measures %}
        {%- set measure = tree['measures'][measure_id] %}
        {%- if measure['extra_sources'] %}
        -- unknown (null), not 0, while the shop has not delivered what it reads beyond its fact
        case when {{ kpi_sources_delivered(measure['extra_sources']) }}
            then cast({{ measure['sql'] }} as {{ kpi_exact() }}) end as m_{{ measure_id }}{{ ',' if not loop.last }}
        {%- else %}
        cast({{ measure['sql'] }} as {{ kpi_exact() }}) as m_{{ measure_id }}{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from {{ ref(fact['model']) }}
    where {{ fact['date'] }} is not null
      and {{ kpi_in_window(fact['date'], lookback) }}
),
{% for dim in ['total'] + (fact['dimensions'].keys() | list) %}
{{ fact_id }}_by_{{ dim }} as (
    select
        date_day,
        '{{ dim }}' as dimension,
        {{ "'(all)'" if dim == 'total' else 'dim_' ~ dim }} as member,
        {%- for measure_id in fact_measures %}
        sum(m_{{ measure_id }}) as m_{{ measure_id }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ fact_id }}_rows
    group by 1, 2, 3
),
{% endfor %}
{%- endfor %}

final as (
{%- for fact_id, fact in tree['facts'].items() %}
{%- set outer = loop %}
{%- set measure_ids = [] %}
{%- for measure_id, measure in tree['measures'].items() if measure['fact'] == fact_id %}
    {%- do measure_ids.append(measure_id) %}
{%- endfor %}
{%- for dim in ['total'] + (fact['dimensions'].keys() | list) %}
    {{ kpi_measures_long(fact_id ~ '_by_' ~ dim, measure_ids) }}
    {{ 'union all' if not (outer.last and loop.last) }}
{%- endfor %}
{%- endfor %}
)

select * from final
