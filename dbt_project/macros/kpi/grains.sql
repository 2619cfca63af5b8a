{# The period grains KPI values are stored at, and the start of a date's period. #}
{% macro kpi_grains() -%}
    {{ return(['day', 'week', 'month']) }}
{%- endmacro %}

{% macro kpi_period_start(grain, date_expr) -%}
    {%- if grain == 'day' -%}
        {{ date_expr }}
    {%- else -%}
        cast({{ dbt.date_trunc(grain, date_expr) }} as date)
    {%- endif -%}
{%- endmacro %}

{# the last day of the period that starts at period_start #}
{% macro kpi_period_end(grain, start_expr) -%}
    {%- if grain == 'day' -%}
        {{ start_expr }}
    {%- elif grain == 'week' -%}
        cast({{ dbt.dateadd('day', 6, start_expr) }} as date)
    {%- elif grain == 'quarter' -%}
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 3, start_expr)) }} as date)
    {%- elif grain == 'year' -%}
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 12, start_expr)) }} as date)
    {%- else -%}
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, start_expr)) }} as date)
    {%- endif -%}
{%- endmacro %}
