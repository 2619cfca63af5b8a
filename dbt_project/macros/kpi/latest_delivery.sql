{#
  Staging models that keep each key's latest delivery (orders, order lines, conversations)
  are incremental tables. A windowed run re-derives only the keys it can have changed: the
  keys delivered in the run's partitions, and the keys whose kept delivery came from one of
  those partitions (ingestion replaced them). For those keys the latest of all their
  deliveries, in any partition, replaces the kept row (delete+insert on the key); a key with
  no delivery left is deleted. The rest of the history is not read again.

      {{ kpi_latest_delivery_config('orders', ['order_id']) }}        -- the model's config
      from {{ source('shop', 'orders') }} {{ kpi_affected_keys(source('shop', 'orders'), ['order_id']) }}

  The model keeps the winning delivery's `_partition_date` as `delivered_on`. Keys must be
  non-null (the contracts require it).
#}
{% macro kpi_latest_delivery_config(source_name, keys) -%}
{%- set joined = [] -%}
{%- for k in keys %}{% do joined.append('s.' ~ k ~ ' = t.' ~ k) %}{% endfor -%}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=keys,
    post_hook="{% if is_incremental() %}delete from {{ this }} t where {{ kpi_in_window('t.delivered_on') }} and not exists (select 1 from {{ source('shop', '" ~ source_name ~ "') }} s where " ~ (joined | join(' and ')) ~ "){% endif %}"
) }}
{%- endmacro %}

{% macro kpi_affected_keys(source_relation, keys) -%}
{%- if is_incremental() -%}
where ({{ keys | join(', ') }}) in (
    select {{ keys | join(', ') }} from {{ source_relation }}
    where {{ kpi_in_window('_partition_date') }}
    union
    select {{ keys | join(', ') }} from {{ this }}
    where {{ kpi_in_window('delivered_on') }}
)
{%- endif -%}
{%- endmacro %}
