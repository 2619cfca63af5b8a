{#
  The rows of `relation` (a CTE of the columns `keys`, date_day, dimension and member unless
  told, and one column m_<measure> per measure in `measure_ids`) turned long: one row per
  measure, (keys..., measure_id, value), a null value kept. fct_base_measures turns each of its
  aggregates long, int_shipment_development its development by age.

  DuckDB (and by default): a select of each measure's column, unioned, as the model always
  read. Spark computes a CTE again at each use, so there that union would aggregate the
  fact's rows again for every measure: UNPIVOT reads the aggregate once.
#}
{% macro kpi_measures_long(relation, measure_ids, keys=['date_day', 'dimension', 'member']) -%}
{{ adapter.dispatch('kpi_measures_long', 'kpi_warehouse')(relation, measure_ids, keys) }}
{%- endmacro %}

{% macro default__kpi_measures_long(relation, measure_ids, keys) -%}
{%- for measure_id in measure_ids %}
    select {{ keys | join(', ') }}, '{{ measure_id }}' as measure_id,
        m_{{ measure_id }} as value
    from {{ relation }}
    {{ 'union all' if not loop.last }}
{%- endfor %}
{%- endmacro %}

{% macro spark__kpi_measures_long(relation, measure_ids, keys) -%}
    select {{ keys | join(', ') }}, measure_id, value
    from {{ relation }}
    unpivot include nulls (value for measure_id in (
        {%- for measure_id in measure_ids %}
        m_{{ measure_id }} as `{{ measure_id }}`{{ ',' if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}
