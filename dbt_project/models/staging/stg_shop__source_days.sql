{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  What the shop delivers: one row per source x delivery day that has rows of the source,
  with how many. A source with no row here has never been delivered, and every KPI that
  reads it is not available (fct_kpi_availability). The sources are the tree's
  (kpi_tree/tree.yaml `sources`), each read from its raw table, which ingestion creates from
  the source's contract before anything lands, so a source the shop does not have is an
  empty table, not a missing one.

  Per day, so that a source missing on single days can be told from one never delivered.
  Incremental by delivery day like the base measures: a run replaces its window's days.
#}
{%- set lookback = 30 -%}  {# maturity_days in tree.yaml #}
{{ kpi_incremental_by_date('delivered_on') }}

with

final as (
    select
        cast('orders' as {{ dbt.type_string() }}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{ source('shop', 'orders') }}
    where {{ kpi_in_window('_partition_date', lookback) }}
    group by _partition_date
    union all
    select
        cast('order_items' as {{ dbt.type_string() }}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{ source('shop', 'order_items') }}
    where {{ kpi_in_window('_partition_date', lookback) }}
    group by _partition_date
    union all
    select
        cast('sessions' as {{ dbt.type_string() }}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{ source('shop', 'sessions') }}
    where {{ kpi_in_window('_partition_date', lookback) }}
    group by _partition_date
    union all
    select
        cast('ad_spend' as {{ dbt.type_string() }}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{ source('shop', 'ad_spend') }}
    where {{ kpi_in_window('_partition_date', lookback) }}
    group by _partition_date
    union all
    select
        cast('conversations' as {{ dbt.type_string() }}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{ source('shop', 'conversations') }}
    where {{ kpi_in_window('_partition_date', lookback) }}
    group by _partition_date
    union all
    select
        cast('shipments' as {{ dbt.type_string() }}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{ source('shop', 'shipments') }}
    where {{ kpi_in_window('_partition_date', lookback) }}
    group by _partition_date
)

select * from final
