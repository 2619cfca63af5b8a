{#
  The combinations of `columns` found more than once among the rows the test sees (its
  model's window, macros/kpi/test_window.sql). A model of new rows only (`window_new_rows`)
  has only the combinations of the run's own deliveries checked, against those rows: a night
  looks up its few hundred thousand, not the history's.

  When every row the test sees is one of the run's deliveries (a first build, or a range
  that starts with the history), that lookup is the whole table joined to itself, and the
  plain count gives the same result: at 100k orders a day, the year's shipment updates took
  94 s with the lookup; on a 7.5-million-row copy, 5 s with it and 1.5 s without.
#}
{% test unique_combination(model, columns) %}
    {%- set new_rows = kpi_test_new_rows() %}
    {%- if new_rows and not kpi_any_row(model, 'not (' ~ new_rows ~ ')') %}
        {%- set new_rows = none %}
    {%- endif %}
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
