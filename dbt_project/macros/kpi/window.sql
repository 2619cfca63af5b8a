{#
  The run's window (inclusive ISO dates) Dagster sets in the environment of its dbt run:
  KPI_WINDOW_START and KPI_WINDOW_END. It is the run's delivery dates widened to every
  business date their files' rows fall on (pipelines/partitions.py: run_window), so it holds
  the run's deliveries (`delivered_on`) and the days they touch. Incremental models replace
  the window's days, reaching `lookback` days further back for facts that mature late
  (sign-off, returns, refunds). With no window (a first build, or `dbt build` by hand
  without them) every day is built.

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

{#
  The newest day the data is as of: the newest `date_column` of the rows aggregated, but never
  after the run's as-of date (KPI_AS_OF, the last complete business day when Dagster planned
  the run). What is still provisional is judged from it: a row stamped in the future (a
  mistyped year) must not make every real day look mature. Without KPI_AS_OF (`dbt build` by
  hand) the newest day of the data.
#}
{% macro kpi_as_of_date(date_column) -%}
    {%- set as_of = kpi_window_bound('KPI_AS_OF') -%}
    {%- if as_of -%}
        case when max({{ date_column }}) > cast('{{ as_of }}' as date)
            then cast('{{ as_of }}' as date) else max({{ date_column }}) end
    {%- else -%}
        max({{ date_column }})
    {%- endif -%}
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

{#
  A filter on `column` to AND with a lookup of it in the keys `keys` (a one-column query that
  stands on its own: refs and sources, no CTE names): the keys' range, computed when the query
  runs (no query while the model compiles). The result is the same; the range lets the engine
  skip the parts of a big table whose keys lie outside it (DuckDB checks it against each row
  group's min/max). A shop's keys follow time (order numbers begin with their day, or count
  up) and a night looks up recent keys, so the lookup reads the end of the table. Where keys
  do not follow time the range spans the table, and DuckDB then plans the lookup as a join
  above the scan, which no longer filters the scan by the keys themselves: such a lookup
  costs about 3.5 times the CPU of one without the range (docs/performance.md). No keys:
  min and max are null, and the comparison filters every row out, after reading them all
  (kpi_key_range_join does not).
#}
{% macro kpi_key_range(column, keys) -%}
    {{- return(adapter.dispatch('kpi_key_range', 'kpi_warehouse')(column, keys)) -}}
{%- endmacro %}

{% macro default__kpi_key_range(column, keys) -%}
    {{ column }} between
        (select min(kpi_key) from ({{ keys }}) as kpi_keys (kpi_key))
        and (select max(kpi_key) from ({{ keys }}) as kpi_keys (kpi_key))
{%- endmacro %}

{#
  kpi_key_range as a join, to write after the table read (`from <table> as <alias>`): the
  keys' least and greatest as a one-row query joined on `column` between them. With no keys
  that query has no row and the engine reads none of the table, where kpi_key_range's bounds
  are null and DuckDB reads all of it before the filter drops every row. For the lookups
  whose keys are often none: a new night has no kept rows of its own deliveries yet, and most
  nights no late shipment update and no cohort to develop (int_shipment_development). The
  measurements are in docs/performance.md.
#}
{% macro kpi_key_range_join(column, keys) -%}
    inner join (
        select min(kpi_key) as kpi_low, max(kpi_key) as kpi_high
        from ({{ keys }}) as kpi_keys (kpi_key)
        having min(kpi_key) is not null
    ) as kpi_key_range on {{ column }} between kpi_key_range.kpi_low and kpi_key_range.kpi_high
{%- endmacro %}

{#
  A filter on `column` to AND with a condition that implies `column` is at least the least
  of `values` (a one-column query that stands on its own): `column >= (select min ...)`,
  computed when the query runs (null, so no row, for no values). The result is the same;
  DuckDB skips the row groups whose values all lie below it. For lookups of rows later than a
  night's (the orders created after the night's first order): a table appended to night
  after night keeps its recent rows at its end.
#}
{% macro kpi_lower_bound(column, values) -%}
    {{- return(adapter.dispatch('kpi_lower_bound', 'kpi_warehouse')(column, values)) -}}
{%- endmacro %}

{% macro default__kpi_lower_bound(column, values) -%}
    {{ column }} >= (select min(v) from ({{ values }}) as kpi_values (v))
{%- endmacro %}

{#- the keys of `relation` delivered in the run's window (its `delivered_on`), as a query that
    stands on its own (for kpi_key_range and kpi_lower_bound, which cannot read a model's
    CTEs); `key` may name several columns -#}
{% macro kpi_window_keys(relation, key) -%}
    select {{ key }} from {{ relation }} where {{ kpi_in_window('delivered_on') }}
{%- endmacro %}

{#
  The rows of `relation` (its columns `columns`) whose `key` is in `keys`, a one-column query
  that may read the model's CTEs, looked up within the range of `likely_keys` (a query that
  stands on its own, for kpi_key_range): the lookup in two disjoint parts, the keys inside
  that range (read from the part of `relation` within it), then any others (read from the
  rest). The result is the same whatever the range; when it holds every key, the second part
  finds no key to look up and DuckDB does not scan for it.

  For the lookups whose keys come out of the model's own query (the orders of the night's
  shipments and conversations), which kpi_key_range alone cannot bound: the night's keys,
  from the window's deliveries, stand for them. Without the range each such lookup reads
  every order of the history (the engine filters the scan by a bloom filter of the keys, not
  by their range), so a night would grow with the history.
#}
{% macro kpi_rows_by_key(relation, columns, key, keys, likely_keys) -%}
    {%- set in_range = kpi_key_range(key, likely_keys) -%}
    select {{ columns }} from {{ relation }}
    where {{ key }} in ({{ keys }}) and {{ in_range }}
    union all
    select {{ columns }} from {{ relation }}
    where {{ key }} in (
        select {{ key }} from ({{ keys }}) as kpi_keys ({{ key }}) where not coalesce({{ in_range }}, false)
    )
      and not coalesce({{ in_range }}, false)
{%- endmacro %}
