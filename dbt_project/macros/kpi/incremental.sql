{#
  Incremental tables over the run's window (macros/kpi/window.sql), reaching maturity_days
  back for the facts that mature late.

  By date (the intermediate models, fct_base_measures): a windowed run replaces the rows whose
  `date_column` falls in the window. A model on a first build (or a build with no window)
  derives every row.

      {{ kpi_incremental_by_date('business_date') }}   -- in the model's config
      ... select * from final {{ kpi_incremental_filter('business_date') }}

  By period (fct_kpi_values, the team marts): a run replaces the day / week / month periods
  that overlap the window, then clears the provisional mark of the periods that matured:
  their end is maturity_days before the newest day in `as_of_relation`'s as_of_date (a Jinja
  expression, rendered when the hook runs: 'this' or "ref('fct_kpi_values')").
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

{% macro kpi_incremental_by_period(as_of_relation) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ kpi_periods_in_window('grain', 'period_start', kpi_tree()['maturity_days']) }}{% endif %}",
    post_hook="update {{ this }} set is_provisional = false where is_provisional and period_end <= {{ dbt.dateadd('day', -1 * kpi_tree()['maturity_days'], '(select max(as_of_date) from ' ~ " ~ as_of_relation ~ " ~ ')') }}"
) }}
{%- endmacro %}
