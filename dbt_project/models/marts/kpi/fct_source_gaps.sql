{#
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
  file lands) or an operator accepts the gap (`kpi gaps accept SOURCE DAY --reason ...`).
#}
{%- set tree = kpi_tree() -%}
{%- set text = dbt.type_string() -%}
{%- set gap_facts = [] -%}
{%- for fact_id, fact in tree['facts'].items() if fact['sources'] | length == 1 and not fact['matures'] -%}
    {%- do gap_facts.append(fact_id) -%}
{%- endfor %}

with

measure_facts as (
{%- for measure_id, measure in tree['measures'].items() if measure['fact'] in gap_facts %}
    select '{{ measure_id }}' as measure_id, '{{ tree['facts'][measure['fact']]['sources'][0] }}' as source
    {{ 'union all' if not loop.last }}
{%- endfor %}
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
{%- for fact_id in gap_facts %}
    {%- set s = tree['facts'][fact_id]['sources'][0] %}
    {%- set kpis = [] -%}
    {%- for node in tree['nodes'] if fact_id in node['facts'] -%}
        {%- do kpis.append(node['id']) -%}
    {%- endfor %}
    {%- for kpi in kpis %}
    select cast('{{ s }}' as {{ text }}) as source, cast('{{ kpi }}' as {{ text }}) as kpi_id
    {{ 'union all' if not loop.last }}
    {%- endfor %}
    {{ 'union all' if kpis and not loop.last }}
{%- endfor %}
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
        on present.source = spans.source and present.date_day = days.date_day
    where days.date_day > spans.first_day
      and present.source is null
)

select * from final
