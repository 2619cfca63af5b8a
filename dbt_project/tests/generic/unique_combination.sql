{#
  The combinations of `columns` found more than once among the rows the test sees (its
  model's window, macros/kpi/test_window.sql). A model of new rows only (`window_new_rows`)
  has only the combinations of the run's own deliveries checked, against those rows: a night
  looks up its few hundred thousand, not the history's (all of them are checked when every
  row the test sees is new: kpi_test_new_rows).
#}
{% test unique_combination(model, columns) %}
    {%- set new_rows = kpi_test_new_rows(model) %}
    select {{ columns | join(', ') }}, count(*) as copies
    from {{ model }}
    {%- if new_rows %}
    -- the combinations of the run's own deliveries (macros/kpi/test_window.sql)
    where ({{ columns | join(', ') }}) in (
        select {{ columns | join(', ') }} from {{ model }} where {{ new_rows }}
    )
    {%- endif %}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}
