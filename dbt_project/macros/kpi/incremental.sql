{#
  The intermediate models are incremental tables by date: a windowed run replaces the rows
  whose `date_column` falls in its window, reaching maturity_days back (as fct_base_measures
  does), so the marts and the tests read a table instead of re-deriving the whole history
  through the staging views on every read. A first build (or a build with no window) derives
  every row.

      {{ kpi_incremental_by_date('business_date') }}   -- in the model's config
      ... select * from final {{ kpi_incremental_filter('business_date') }}
#}
{% macro kpi_incremental_by_date(date_column) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ kpi_in_window('" ~ date_column ~ "', kpi_tree()['maturity_days']) }}{% endif %}"
) }}
{%- endmacro %}

{% macro kpi_incremental_filter(date_column) -%}
{%- if is_incremental() -%}
where {{ kpi_in_window(date_column, kpi_tree()['maturity_days']) }}
{%- endif -%}
{%- endmacro %}
