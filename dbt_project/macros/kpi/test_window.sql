{#
  Tests of a windowed run look at the rows that run rebuilt, not at the whole history, so a
  night's tests cost the same in the third year as in the first. The project's generic tests
  (tests/generic/: kpi_unique, kpi_not_null, kpi_relationships, unique_combination,
  kpi_accepted_members) read `kpi_window_rows(model)`: the tested model's rows in its window,
  declared in the model's meta:

  - `window_column: <date column>`: the run's days, reaching maturity_days back (as the
    incremental models do), or `window_lookback` days back if the model sets it. The tables
    kept by key set `delivered_on` and 0: the rows derived from the run's deliveries (a row
    no delivery touched is not rewritten, so it cannot break a key);
  - `window_periods: true`: the day / week / month periods the run rebuilt (KPI tables).

  With no window (a first build, or `dbt build` by hand), or on a model that declares none,
  the test sees every row. The window is the run's environment (macros/kpi/window.sql), read
  when the test runs and written into its query as constants: nothing is queried to shape
  the test, the parse does not change from night to night, and DuckDB skips the row groups
  outside the window by their min/max.

  A model whose window column is the day each row was delivered (raw's partition) and never
  rewritten afterwards (the shipment updates) can also set `window_new_rows: true`: its
  unique tests then report only the combinations that hold one of the run's own deliveries
  (tests/generic/unique_combination.sql). A copy of a row among older deliveries only was
  checked by the run that delivered it.
#}

{#- `relation` (a test's model) narrowed to the window of the model the test is attached to:
    a subquery, or `relation` itself when the test sees every row -#}
{% macro kpi_window_rows(relation) -%}
    {%- set where = kpi_test_window() -%}
    {%- if where -%}
        (select * from {{ relation }} where {{ where }}) as kpi_window_rows
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- the meta of the model the running test is attached to ({} for a singular test) -#}
{% macro kpi_tested_model_meta() -%}
    {%- set attached = model.get('attached_node') if model is mapping else model.attached_node -%}
    {%- set node = graph.nodes.get(attached) if attached else none -%}
    {{ return((node.config.meta if node else {}) or {}) }}
{%- endmacro %}

{#- the filter on the tested model's window, or none when the test sees every row -#}
{% macro kpi_test_window() -%}
    {%- if not kpi_has_window() or not execute -%}{{ return(none) }}{%- endif -%}
    {%- set meta = kpi_tested_model_meta() -%}
    {%- set lookback = meta.get('window_lookback', kpi_tree()['maturity_days']) -%}
    {%- if meta.get('window_periods') -%}
        {{ return(kpi_periods_in_window('grain', 'period_start', lookback)) }}
    {%- elif meta.get('window_column') -%}
        {{ return(kpi_in_window(meta['window_column'], lookback)) }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}

{#- the run's own deliveries among the window's rows, for a model with `window_new_rows`
    (above); else none -#}
{% macro kpi_test_new_rows() -%}
    {%- if not kpi_has_window() or not execute -%}{{ return(none) }}{%- endif -%}
    {%- set meta = kpi_tested_model_meta() -%}
    {%- if not (meta.get('window_new_rows') and meta.get('window_column')) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(kpi_in_window(meta['window_column'], 0)) }}
{%- endmacro %}

{#- whether the run's own deliveries are the lesser part of the window's rows: its window is
    shorter than the lookback before it (a night). A unique test then looks their
    combinations up among the window's rows; over a longer window (a first build, a
    backfill) it counts every combination, as the lookup would match most of the table
    against itself (tests/generic/unique_combination.sql). Read from the window's dates, so
    nothing is queried to decide. -#}
{% macro kpi_test_new_rows_are_few() -%}
    {%- if not kpi_has_window() or not execute -%}{{ return(false) }}{%- endif -%}
    {%- set meta = kpi_tested_model_meta() -%}
    {%- set lookback = meta.get('window_lookback', kpi_tree()['maturity_days']) -%}
    {%- set start = modules.datetime.date.fromisoformat(kpi_window_bound('KPI_WINDOW_START')) -%}
    {%- set end = modules.datetime.date.fromisoformat(kpi_window_bound('KPI_WINDOW_END')) -%}
    {{ return((end - start).days + 1 < lookback) }}
{%- endmacro %}
