{#
  The partition window Dagster passes as --vars {start_date, end_date}. Incremental models
  replace the window's days, reaching `lookback` days further back for facts that mature
  late (sign-off, returns, refunds). With no window (a first build, or by hand) every day
  is built.
#}
{% macro kpi_window_start(lookback=0) -%}
    {%- set start = var('start_date', none) -%}
    {%- if start -%}
        {{ dbt.dateadd('day', -1 * lookback, "cast('" ~ start ~ "' as date)") }}
    {%- else -%}null{%- endif -%}
{%- endmacro %}

{% macro kpi_window_end() -%}
    {%- set end = var('end_date', none) -%}
    {%- if end -%}cast('{{ end }}' as date){%- else -%}null{%- endif -%}
{%- endmacro %}

{% macro kpi_has_window() -%}
    {{ return(var('start_date', none) is not none and var('end_date', none) is not none) }}
{%- endmacro %}

{# a filter on `date_column` for the window (true when there is no window) #}
{% macro kpi_in_window(date_column, lookback=0) -%}
    {%- if kpi_has_window() -%}
        {{ date_column }} between {{ kpi_window_start(lookback) }} and {{ kpi_window_end() }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{# For KPI values: a period is rebuilt when it overlaps the window (with the lookback). #}
{% macro kpi_periods_in_window(grain_column, start_column, lookback=0) -%}
    {%- if kpi_has_window() -%}
    (
        {%- for grain in kpi_grains() %}
        ({{ grain_column }} = '{{ grain }}' and {{ start_column }} between
            {{ kpi_period_start(grain, kpi_window_start(lookback)) }}
            and {{ kpi_period_start(grain, kpi_window_end()) }}){{ ' or' if not loop.last }}
        {%- endfor %}
    )
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}

{# The days whose base measures a window's periods need: from the first period's start to
   the last period's end. #}
{% macro kpi_days_for_window_periods(date_column, lookback=0) -%}
    {%- if kpi_has_window() -%}
        {{ date_column }} between
            least({% for grain in kpi_grains() %}{{ kpi_period_start(grain, kpi_window_start(lookback)) }}{{ ', ' if not loop.last }}{% endfor %})
            and greatest({% for grain in kpi_grains() %}{{ kpi_period_end(grain, kpi_period_start(grain, kpi_window_end())) }}{{ ', ' if not loop.last }}{% endfor %})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}
