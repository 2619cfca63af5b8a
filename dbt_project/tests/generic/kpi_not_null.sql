{#
  dbt's `not_null` (its own SQL, dispatched as dbt dispatches it) over the rows of the tested
  model's window (macros/kpi/test_window.sql): every row on a build without a window.
#}
{% test kpi_not_null(model, column_name) %}
    {{ adapter.dispatch('test_not_null', 'dbt')(kpi_window_rows(model), column_name) }}
{% endtest %}
