{#
  A team's mart: one row per grain x period x dimension x member, one column per KPI the
  team owns (value), plus each ratio's numerator and denominator so it rolls up. The KPIs
  are the tree's nodes whose team is `team` (kpi_tree/tree.yaml). Incremental by period like
  fct_kpi_values (macros/kpi/incremental.sql), its provisional marks cleared by the same rule.
#}
{% macro kpi_team_mart(team) -%}
{%- set tree = kpi_tree() -%}
{{ kpi_incremental_by_period("ref('fct_kpi_values')") }}

{%- set owned = tree['nodes'] | selectattr('team', 'equalto', team) | list -%}
with

kpi_values as (
    select * from {{ ref('fct_kpi_values') }}
    where kpi_id in ({% for node in owned %}'{{ node['id'] }}'{{ ', ' if not loop.last }}{% endfor %})
      {%- if is_incremental() %}
      and {{ kpi_periods_in_window('grain', 'period_start', tree['maturity_days']) }}
      {%- endif %}
),

final as (
    select
        grain,
        period_start,
        period_end,
        dimension,
        member,
        {%- for node in owned %}
        max(case when kpi_id = '{{ node['id'] }}' then value end) as {{ node['id'] }},
        {%- if node['kind'] == 'ratio' %}
        max(case when kpi_id = '{{ node['id'] }}' then numerator end) as {{ node['id'] }}__numerator,
        max(case when kpi_id = '{{ node['id'] }}' then denominator end) as {{ node['id'] }}__denominator,
        {%- endif %}
        {%- endfor %}
        max(case when is_provisional then 1 else 0 end) = 1 as is_provisional
    from kpi_values
    group by 1, 2, 3, 4, 5
)

select * from final
{%- endmacro %}
