{#
  The values of `column_name` that are not members of the vocabulary's list `vocabulary`
  (macros/kpi/vocabulary.sql): the shop's configured members, never a list typed here. Over
  the rows of the tested model's window (macros/kpi/test_window.sql).
#}
{% test kpi_accepted_members(model, column_name, vocabulary) %}
    select {{ column_name }} as value, count(*) as rows_with_it
    from {{ kpi_window_rows(model) }}
    where {{ column_name }} is not null
      and not ({{ kpi_is_member(column_name, vocabulary) }})
    group by {{ column_name }}
{% endtest %}
