{#
  Tests of a windowed run look at the rows that run rebuilt, not at the whole history, so a
  night's tests cost the same in the third year as in the first. Every data test carries
  `where: __window__` (dbt_project.yml); this override of dbt's `get_where_subquery` turns it
  into a filter on the tested model's window, declared in the model's meta:

  - `window_column: <date column>`: the run's days, reaching maturity_days back (as the
    incremental models do), or `window_lookback` days back if the model sets it. The tables
    kept by key set `delivered_on` and 0: the rows derived from the run's deliveries (a row
    no delivery touched is not rewritten, so it cannot break a key);
  - `window_periods: true`: the day / week / month periods the run rebuilt (KPI tables).

  With no window (a first build, or `dbt build` by hand), or on a model that declares none,
  the test sees every row. Any other `where` is applied as dbt does.

  A model whose window column is the day each row was delivered (raw's partition) and never
  rewritten afterwards (the shipment updates) can also set `window_new_rows: true`: its
  unique tests then check the combinations of the run's own deliveries against the window's
  rows (tests/generic/unique_combination.sql). A copy of a row among older deliveries only
  was checked by the run that delivered it.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where == '__window__' -%}
        {%- set where = kpi_test_window() -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- the meta of the model the running test is attached to ({} for a singular test) -#}
{% macro kpi_tested_model_meta() -%}
    {%- set attached = model.get('attached_node') if model is mapping else model.attached_node -%}
    {%- set node = graph.nodes.get(attached) if attached else none -%}
    {{ return((node.config.meta if node else {}) or {}) }}
{%- endmacro %}

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

{#- the run's own deliveries, for a model with `window_new_rows` (above); else none. None too
    when every row the test sees (`relation`: its model's window) is one of them (a first
    build, or a range that starts with the history): looking the combinations up among those
    same rows would join the whole table to itself, and checking them all gives the same
    result with one plain count. -#}
{% macro kpi_test_new_rows(relation) -%}
    {%- if not kpi_has_window() or not execute -%}{{ return(none) }}{%- endif -%}
    {%- set meta = kpi_tested_model_meta() -%}
    {%- if not (meta.get('window_new_rows') and meta.get('window_column')) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set new_rows = kpi_in_window(meta['window_column'], 0) -%}
    {%- if kpi_test_reads_warehouse() -%}
        {%- set older = run_query(
            'select 1 from ' ~ relation ~ ' where not (' ~ new_rows ~ ') limit 1'
        ) -%}
        {%- if older.rows | length == 0 -%}{{ return(none) }}{%- endif -%}
    {%- endif -%}
    {{ return(new_rows) }}
{%- endmacro %}

{#- whether the running test may read the warehouse to shape its query: only when it runs
    (`dbt compile` may find no tables yet) -#}
{% macro kpi_test_reads_warehouse() -%}
    {{ return(execute and flags.WHICH in ('build', 'test', 'retry')) }}
{%- endmacro %}
