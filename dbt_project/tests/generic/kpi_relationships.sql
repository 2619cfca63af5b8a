{#
  dbt's `relationships` (every value of the column is found in `field` of `to`; its own SQL,
  dispatched as dbt dispatches it) over the rows of the tested model's window
  (macros/kpi/test_window.sql), the parent read only over the range of those rows' values
  (kpi_key_range): a windowed run tests recent keys, and the parent need not be read whole
  for them (read whole, every order of the history, the test would grow with it). A parent
  row outside the range matches no child row, so the result is the same. (Its own name, not
  an override of dbt's `relationships`.)
#}
{% test kpi_relationships(model, column_name, to, field) %}
    {%- set child = kpi_window_rows(model) -%}
    {%- set in_range = kpi_key_range(field, 'select ' ~ column_name ~ ' from ' ~ child) -%}
    {%- set parent = '(select * from ' ~ to ~ ' where ' ~ in_range ~ ') as kpi_parent' -%}
    {{ adapter.dispatch('test_relationships', 'dbt')(child, column_name, parent, field) }}
{% endtest %}
