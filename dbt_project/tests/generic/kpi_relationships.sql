{#
  dbt's relationships test (every value of the column is found in `field` of `to`), the
  parent read only over the range of the child's values (kpi_key_range): a windowed run
  tests the child's rows it rebuilt, recent keys, and the parent need not be read whole for
  them (read whole, every order of the history, the test would grow with it). A parent row
  outside the range matches no child row, so the result is the same. (Its own name, not an
  override of dbt's `relationships`: a project that overrides dbt's own test macro fails to
  find the project's macros after a partial parse.)
#}
{% test kpi_relationships(model, column_name, to, field) %}
{%- set in_range = kpi_key_range(field, 'select ' ~ column_name ~ ' from ' ~ model)
    if kpi_test_reads_warehouse() else '1 = 1' %}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
    where {{ in_range }}
)

select from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null
{% endtest %}
