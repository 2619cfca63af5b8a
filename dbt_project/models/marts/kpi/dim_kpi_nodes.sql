{# The tree's nodes as a table (generated from kpi_tree/tree.yaml), for BI tools to draw. #}
{%- set tree = kpi_tree() -%}
{%- set text = dbt.type_string() -%}

with

nodes as (
{%- for node in tree['nodes'] %}
    select
        cast('{{ node['id'] }}' as {{ text }}) as kpi_id,
        cast('{{ node['en'] | replace("'", "''") }}' as {{ text }}) as name_en,
        cast('{{ node['zh'] | replace("'", "''") }}' as {{ text }}) as name_zh,
        cast('{{ node['unit'] }}' as {{ text }}) as unit,
        cast('{{ node['team'] }}' as {{ text }}) as team,
        cast('{{ tree['teams'][node['team']]['en'] }}' as {{ text }}) as team_en,
        cast('{{ tree['teams'][node['team']]['zh'] }}' as {{ text }}) as team_zh,
        cast('{{ node['direction'] }}' as {{ text }}) as direction,
        cast('{{ node['kind'] }}' as {{ text }}) as formula_kind,
        cast({{ "'" ~ node['numerator'] ~ "'" if node['numerator'] else 'null' }} as {{ text }}) as numerator_measure,
        cast({{ "'" ~ node['denominator'] ~ "'" if node['denominator'] else 'null' }} as {{ text }}) as denominator_measure,
        cast({{ node['scale'] }} as {{ kpi_double() }}) as scale,
        cast({{ node['quantile'] if node['quantile'] is not none else 'null' }} as {{ kpi_double() }}) as quantile,
        cast('{{ node['dimensions'] | join(',') }}' as {{ text }}) as dimensions,
        cast({{ "'" ~ node['parent'] ~ "'" if node['parent'] else 'null' }} as {{ text }}) as parent_kpi_id,
        cast({{ "'" ~ node['relation'] ~ "'" if node['relation'] else 'null' }} as {{ text }}) as relation_to_parent,
        {{ loop.index }} as tree_order
    {{ 'union all' if not loop.last }}
{%- endfor %}
)

select * from nodes
