{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  Which KPIs the shop can compute: one row per node of the tree with the sources it reads
  (kpi_tree/tree.yaml: its measures' facts and their `needs`, derived by Tree.node_sources)
  and those of them the shop has never delivered (no row in stg_shop__source_days). A KPI
  with a missing source is not available: its values are null, with the reason, in
  fct_kpi_values; no gate, pace or alert judges it.
#}
with

delivered as (
    select distinct source from {{ ref('stg_shop__source_days') }}
),

-- the tree's sources, in its order, with the names a reason uses
sources as (
    select * from values
        ('orders', 1, 'orders', '订单'),
        ('order_items', 2, 'order lines', '订单明细'),
        ('sessions', 3, 'sessions', '流量'),
        ('ad_spend', 4, 'ad spend', '广告投放'),
        ('conversations', 5, 'customer-service conversations', '客服会话'),
        ('shipments', 6, 'shipments', '物流')
            as sources (source, source_order, name_en, name_zh)
),

-- every source each node reads
needs as (
    select * from values
        ('net_revenue', 'orders'), ('net_revenue', 'shipments'),
        ('gmv', 'orders'),
        ('sessions', 'sessions'),
        ('paid_sessions', 'sessions'),
        ('ad_clicks', 'ad_spend'),
        ('impressions', 'ad_spend'),
        ('ad_spend', 'ad_spend'),
        ('cpm', 'ad_spend'),
        ('ctr', 'ad_spend'),
        ('cpc', 'ad_spend'),
        ('click_to_session_rate', 'sessions'), ('click_to_session_rate', 'ad_spend'),
        ('roas', 'orders'), ('roas', 'ad_spend'),
        ('organic_sessions', 'sessions'),
        ('conversion_rate', 'orders'), ('conversion_rate', 'sessions'),
        ('orders', 'orders'),
        ('inquiry_rate', 'sessions'), ('inquiry_rate', 'conversations'),
        ('inquiry_conversion', 'orders'), ('inquiry_conversion', 'conversations'),
        ('first_response_mean', 'conversations'),
        ('first_response_p90', 'conversations'),
        ('conversation_length', 'conversations'),
        ('repeat_customer_rate', 'orders'),
        ('aov', 'orders'),
        ('cross_sell_rate', 'orders'), ('cross_sell_rate', 'order_items'),
        ('signoff_rate', 'orders'), ('signoff_rate', 'shipments'),
        ('parcel_signoff_rate', 'orders'), ('parcel_signoff_rate', 'shipments'),
        ('refusal_rate', 'orders'), ('refusal_rate', 'shipments'),
        ('return_rate', 'orders'), ('return_rate', 'shipments'),
        ('refund_rate', 'orders'), ('refund_rate', 'shipments'),
        ('delivery_time', 'orders'), ('delivery_time', 'shipments'),
        ('cod_review_delay', 'orders')
            as needs (kpi_id, source)
),

missing as (
    select
        needs.kpi_id,
        {{ dbt.listagg('sources.source', "','", 'order by sources.source_order') }}
            as missing_sources,
        {{ dbt.listagg('sources.name_en', "', '", 'order by sources.source_order') }} as names_en,
        {{ dbt.listagg('sources.name_zh', "'、'", 'order by sources.source_order') }} as names_zh
    from needs
    inner join sources on needs.source = sources.source
    left join delivered on needs.source = delivered.source
    where delivered.source is null
    group by needs.kpi_id
),

-- each node's team and the sources it reads
nodes as (
    select * from values
        ('net_revenue', 'management', 'orders,shipments'),
        ('gmv', 'management', 'orders'),
        ('sessions', 'marketing', 'sessions'),
        ('paid_sessions', 'marketing', 'sessions'),
        ('ad_clicks', 'marketing', 'ad_spend'),
        ('impressions', 'marketing', 'ad_spend'),
        ('ad_spend', 'marketing', 'ad_spend'),
        ('cpm', 'marketing', 'ad_spend'),
        ('ctr', 'marketing', 'ad_spend'),
        ('cpc', 'marketing', 'ad_spend'),
        ('click_to_session_rate', 'marketing', 'sessions,ad_spend'),
        ('roas', 'marketing', 'orders,ad_spend'),
        ('organic_sessions', 'marketing', 'sessions'),
        ('conversion_rate', 'operations', 'orders,sessions'),
        ('orders', 'operations', 'orders'),
        ('inquiry_rate', 'operations', 'sessions,conversations'),
        ('inquiry_conversion', 'customer_service', 'orders,conversations'),
        ('first_response_mean', 'customer_service', 'conversations'),
        ('first_response_p90', 'customer_service', 'conversations'),
        ('conversation_length', 'customer_service', 'conversations'),
        ('repeat_customer_rate', 'operations', 'orders'),
        ('aov', 'operations', 'orders'),
        ('cross_sell_rate', 'operations', 'orders,order_items'),
        ('signoff_rate', 'logistics', 'orders,shipments'),
        ('parcel_signoff_rate', 'logistics', 'orders,shipments'),
        ('refusal_rate', 'logistics', 'orders,shipments'),
        ('return_rate', 'logistics', 'orders,shipments'),
        ('refund_rate', 'logistics', 'orders,shipments'),
        ('delivery_time', 'logistics', 'orders,shipments'),
        ('cod_review_delay', 'customer_service', 'orders')
            as nodes (kpi_id, team, sources)
),

final as (
    select
        nodes.kpi_id,
        nodes.team,
        nodes.sources,
        missing.missing_sources,
        missing.kpi_id is null as is_available,
        case when missing.kpi_id is not null then 'needs ' || missing.names_en end as reason_en,
        case when missing.kpi_id is not null then '需要' || missing.names_zh || '数据' end
            as reason_zh
    from nodes
    left join missing on nodes.kpi_id = missing.kpi_id
)

select * from final
