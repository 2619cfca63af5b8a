{#
  The partition window (inclusive ISO dates) Dagster sets in the environment of its dbt run:
  KPI_WINDOW_START and KPI_WINDOW_END. Incremental models replace the window's days, reaching
  `lookback` days further back for facts that mature late (sign-off, returns, refunds). With
  no window (a first build, or `dbt build` by hand without them) every day is built.

  The window is read when a node runs, never while dbt parses: a value read at parse time
  enters the manifest, and a window that changes every night would then force a full re-parse
  every night (as `--vars` does), where the same project can otherwise be partially parsed.
#}
{% macro kpi_window_bound(name) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set value = env_var(name, '') | trim -%}
    {%- if value and not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error(name ~ "='" ~ value ~ "' is not a date (YYYY-MM-DD)") }}
    {%- endif -%}
    {{ return(value or none) }}
{%- endmacro %}

{% macro kpi_window_start(lookback=0) -%}
    {%- set start = kpi_window_bound('KPI_WINDOW_START') -%}
    {%- if start -%}
        {{ dbt.dateadd('day', -1 * lookback, "cast('" ~ start ~ "' as date)") }}
    {%- else -%}null{%- endif -%}
{%- endmacro %}

{% macro kpi_window_end() -%}
    {%- set end = kpi_window_bound('KPI_WINDOW_END') -%}
    {%- if end -%}cast('{{ end }}' as date){%- else -%}null{%- endif -%}
{%- endmacro %}

{% macro kpi_has_window() -%}
    {{ return(kpi_window_bound('KPI_WINDOW_START') is not none
              and kpi_window_bound('KPI_WINDOW_END') is not none) }}
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
