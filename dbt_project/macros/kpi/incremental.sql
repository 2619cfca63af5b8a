{#
  Incremental tables over the run's window (macros/kpi/window.sql), reaching maturity_days
  back for the facts that mature late.

  By date (fct_base_measures): a windowed run replaces the rows whose `date_column` falls in
  the window. A model on a first build (or a build with no window) derives every row.

      {{ kpi_incremental_by_date('date_day') }}   -- in the model's config
      ... where {{ kpi_in_window('date_day', kpi_tree()['maturity_days']) }}

  By key (the intermediate models): each row records, as `delivered_on`, the latest delivery
  among the staging rows it was derived from. A windowed run rebuilds the rows derived from a
  delivery in the run's window, as the model finds them (the model's SQL names them, see
  int_orders_enriched), replacing them on `keys` (delete+insert), and deletes the window's
  rows that a lookup can no longer find (macros/kpi/latest_delivery.sql): a late shipment
  update or a re-delivered order rebuilds its own rows, however old, and nothing else.

      {{ kpi_incremental_by_key(['order_id'], [{'ref': 'stg_shop__orders', 'keys': ['order_id']}]) }}

  By period (fct_kpi_values, the team marts): a run replaces the day / week / month periods
  that overlap the window, then clears the provisional mark of the periods that matured:
  their end is maturity_days before the newest day in `as_of_relation`'s as_of_date (a Jinja
  expression, rendered when the hook runs: 'this' or "ref('fct_kpi_values')").
#}
{#
  Each of the three is adapter-dispatched. DuckDB: the mechanisms above. Spark (dbt-spark on
  Parquet, where a table takes no delete or update): dbt's insert_overwrite of the date
  partitions a run derives (spark.sql.sources.partitionOverwriteMode=dynamic, profiles.yml);
  the tables kept by key are rebuilt whole (a key delivered again moves to another delivery
  day, which an overwrite of the new day's partition would not take out of the old one).
  docs/spark.md says what this does not yet do on Spark.
#}
{% macro kpi_incremental_by_date(date_column) -%}
{{ adapter.dispatch('kpi_incremental_by_date', 'kpi_warehouse')(date_column) }}
{%- endmacro %}

{% macro spark__kpi_incremental_by_date(date_column) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    file_format='parquet',
    partition_by=[date_column]
) }}
{%- endmacro %}

{% macro duckdb__kpi_incremental_by_date(date_column) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ kpi_in_window('" ~ date_column ~ "', kpi_tree()['maturity_days']) }}{% endif %}"
) }}
{%- endmacro %}

{% macro kpi_incremental_by_key(keys, lookups) -%}
{{ adapter.dispatch('kpi_incremental_by_key', 'kpi_warehouse')(keys, lookups) }}
{%- endmacro %}

{% macro spark__kpi_incremental_by_key(keys, lookups) -%}
{{ config(materialized='table', file_format='parquet') }}
{%- endmacro %}

{% macro duckdb__kpi_incremental_by_key(keys, lookups) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='kpi_by_key',
    unique_key=keys,
    post_hook="{% if is_incremental() %}{{ kpi_delete_vanished_keys(" ~ (keys | tojson) ~ ", " ~ (lookups | tojson) ~ ") }}{% endif %}"
) }}
{%- endmacro %}

{#
  The incremental strategy of the tables kept by key: dbt's delete+insert on the key, the
  delete bounded as well by the range of the new rows' first key column (kpi_key_range), so
  that it reads the end of the table, not all of it: an unbounded delete reads every row of
  the table each night, and so grows with the history.
#}
{% macro get_incremental_kpi_by_key_sql(arg_dict) -%}
    {%- set key = arg_dict['unique_key'][0] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set target = adapter.dispatch('kpi_delete_insert_target_alias')() -%}
    {%- set in_range = kpi_key_range(target ~ '.' ~ key, 'select ' ~ key ~ ' from ' ~ new_rows) -%}
    {{ get_delete_insert_merge_sql(
        arg_dict['target_relation'], new_rows, arg_dict['unique_key'], arg_dict['dest_columns'],
        (arg_dict['incremental_predicates'] or []) + [in_range]
    ) }}
{%- endmacro %}

{#- the alias the adapter's delete+insert gives the table it deletes from -#}
{% macro default__kpi_delete_insert_target_alias() -%}DBT_INTERNAL_DEST{%- endmacro %}
{% macro duckdb__kpi_delete_insert_target_alias() -%}DBT_INCREMENTAL_TARGET{%- endmacro %}

{#
  The rows a windowed run of a table kept by key derives again, without reading the history
  of its staging relation: the window's rows (`window_rows`, a CTE over `relation`), the
  kept rows (`kept`, a CTE over {{ this }} chosen by the model) derived from deliveries before
  the window, which stand for their staging rows (none of those changed, and the kept
  `delivered_on` is no earlier than theirs), and, read again from `relation` outside the
  window, the rows of the kept keys derived from a delivery in the window or after it (a
  rerun may have changed them; none on a night for the newest day). `columns` is the
  comma-separated list of columns taken from each; `kept_columns`, when given, the kept rows'
  own list, for a table whose rows fold many staging rows into one (int_customers: its
  first_order_at stands for the orders' created_at).
#}
{% macro kpi_window_and_kept_rows(window_rows, kept, relation, key, columns, kept_columns=none) -%}
    select {{ columns }} from {{ window_rows }}
    union all
    select {{ kept_columns or columns }} from {{ kept }}
    where delivered_on < {{ kpi_window_start() }}
    union all
    select {{ columns }} from {{ relation }}
    where not ({{ kpi_in_window('delivered_on') }})
      and {{ key }} in (select {{ key }} from {{ kept }} where delivered_on >= {{ kpi_window_start() }})
{%- endmacro %}

{% macro kpi_incremental_by_period(as_of_relation) -%}
{{ adapter.dispatch('kpi_incremental_by_period', 'kpi_warehouse')(as_of_relation) }}
{%- endmacro %}

{#- Spark: the periods a run derives replace theirs whole; then the periods that matured
    outside the window are written again with their mark cleared (Parquet tables take no
    update; an overwrite of their partitions does the same) -#}
{% macro spark__kpi_incremental_by_period(as_of_relation) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    file_format='parquet',
    partition_by=['grain', 'period_start'],
    post_hook="{{ spark__kpi_clear_matured_marks(this, " ~ as_of_relation ~ ") }}"
) }}
{%- endmacro %}

{#- The partitions (grain, period) of `relation` that hold a provisional row whose period
    ended maturity_days before the newest as_of_date of `as_of_relation`, written again with
    those rows' mark cleared and every other row as it was (DuckDB's update, below) -#}
{% macro spark__kpi_clear_matured_marks(relation, as_of_relation) -%}
{%- set partitions = ['grain', 'period_start'] -%}
{%- set matured -%}
    is_provisional and period_end <= {{ dbt.dateadd('day', -1 * kpi_tree()['maturity_days'],
        '(select max(as_of_date) from ' ~ as_of_relation ~ ')') }}
{%- endset -%}
{%- set kept = adapter.get_columns_in_relation(relation)
    | map(attribute='name') | reject('in', partitions) | list -%}
insert overwrite table {{ relation }} partition (grain, period_start)
select
    {%- for column in kept %}
    {% if column == 'is_provisional' -%}
    case when {{ matured }} then false else is_provisional end as is_provisional
    {%- else -%}
    kept.{{ column }}
    {%- endif %},
    {%- endfor %}
    kept.grain,
    kept.period_start
from {{ relation }} as kept
left semi join (
    select distinct grain, period_start from {{ relation }} where {{ matured }}
) as matured
    on kept.grain = matured.grain and kept.period_start = matured.period_start
{%- endmacro %}

{% macro duckdb__kpi_incremental_by_period(as_of_relation) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ kpi_periods_in_window('grain', 'period_start', kpi_tree()['maturity_days']) }}{% endif %}",
    post_hook="update {{ this }} set is_provisional = false where is_provisional and period_end <= {{ dbt.dateadd('day', -1 * kpi_tree()['maturity_days'], '(select max(as_of_date) from ' ~ " ~ as_of_relation ~ " ~ ')') }}"
) }}
{%- endmacro %}

{#
  By cohort (int_shipment_development): a run replaces the cohorts (`cohort_column`) whose
  rows it derives, whole, and keeps every other. DuckDB: dbt's delete+insert on the cohort.
  Spark: dbt's insert_overwrite of the cohorts' partitions.
#}
{% macro kpi_incremental_by_cohort(cohort_column) -%}
{{ adapter.dispatch('kpi_incremental_by_cohort', 'kpi_warehouse')(cohort_column) }}
{%- endmacro %}

{% macro spark__kpi_incremental_by_cohort(cohort_column) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    file_format='parquet',
    partition_by=[cohort_column]
) }}
{%- endmacro %}

{% macro duckdb__kpi_incremental_by_cohort(cohort_column) -%}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=[cohort_column]
) }}
{%- endmacro %}
