{#
  What the shop delivers: one row per source x delivery day that has rows of the source,
  with how many. A source with no row here has never been delivered, and every KPI that
  reads it is not available (fct_kpi_availability). The sources are the tree's
  (kpi_tree/tree.yaml `sources`), each read from its raw table, which ingestion creates from
  the source's contract before anything lands, so a source the shop does not have is an
  empty table, not a missing one.

  Per day, so that a source missing on single days can be told from one never delivered.
  Incremental by delivery day like the base measures: a run replaces its window's days.
#}
{%- set tree = kpi_tree() -%}
{%- set lookback = tree['maturity_days'] -%}
{{ kpi_incremental_by_date('delivered_on') }}

with

final as (
{%- for delivered in tree['sources'] %}
    select
        cast('{{ delivered['id'] }}' as {{ dbt.type_string() }}) as source,
        _partition_date as delivered_on,
        count(*) as row_count
    from {{ source('shop', delivered['id']) }}
    where {{ kpi_in_window('_partition_date', lookback) }}
    group by _partition_date
    {{ 'union all' if not loop.last }}
{%- endfor %}
)

select * from final
