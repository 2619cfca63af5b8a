{% test unique_combination(model, columns) %}
    {%- set new_rows = kpi_test_new_rows() %}
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
