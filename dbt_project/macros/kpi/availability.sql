{#
  Whether the shop has delivered every one of `sources` (a list of source ids): true when
  each has rows (stg_shop__source_days). A condition, evaluated once per query.
#}
{% macro kpi_sources_delivered(sources) -%}
    {%- if not sources -%}
        1 = 1
    {%- else -%}
        (select count(distinct source) from {{ ref('stg_shop__source_days') }}
         where source in ({% for s in sources %}'{{ s }}'{{ ', ' if not loop.last }}{% endfor %})) = {{ sources | length }}
    {%- endif -%}
{%- endmacro %}
