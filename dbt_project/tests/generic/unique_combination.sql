{#
  The combinations of `columns` found more than once among the rows of the tested model's
  window (macros/kpi/test_window.sql). On a model of new rows only (`window_new_rows`) a
  windowed run reports only the combinations that hold one of its own deliveries: a copy
  among the window's older deliveries only was reported by the run that delivered it. A
  night looks its deliveries' combinations up among the window's rows rather than counting
  every combination of its maturity days (kpi_test_new_rows_are_few).
#}
{% test unique_combination(model, columns) %}
    {%- set new_rows = kpi_test_new_rows() %}
    select {{ columns | join(', ') }}, count(*) as copies
    from {{ kpi_window_rows(model) }}
    {%- if new_rows and kpi_test_new_rows_are_few() %}
    where ({{ columns | join(', ') }}) in (
        select {{ columns | join(', ') }} from {{ model }} where {{ new_rows }}
    )
    {%- endif %}
    group by {{ columns | join(', ') }}
    having count(*) > 1
    {%- if new_rows %}
       and max(case when {{ new_rows }} then 1 else 0 end) = 1
    {%- endif %}
{% endtest %}
