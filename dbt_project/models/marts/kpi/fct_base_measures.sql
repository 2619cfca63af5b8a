{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  Daily base measures, long: one row per business day x dimension x member x measure, for
  the total (dimension 'total', member '(all)') and for every dimension of the measure's
  fact. Per fact (tree.yaml `facts`): its rows with each measure's expression (`measures`),
  summed by day for the total and for each dimension, then turned long
  (kpi_measures_long, dispatched per engine). Incremental by date: a run replaces its
  window's days, reaching maturity_days back for late-maturing facts. A measure that reads a
  source beyond its fact's (`needs`) is null while the shop has not delivered it.
#}
{%- set lookback = 30 -%}  {# maturity_days in tree.yaml #}
{#- each fact's measures, as its aggregates' columns m_<measure> -#}
{%- set orders_measures = [
    'orders', 'gmv', 'multi_item_orders', 'returning_orders', 'cod_orders',
    'cod_review_minutes', 'cod_reviewed_orders'
] -%}
{%- set sessions_measures = [
    'sessions', 'paid_sessions', 'organic_sessions', 'detail_sessions'
] -%}
{%- set ad_spend_measures = [
    'impressions', 'ad_clicks', 'ad_spend'
] -%}
{%- set conversations_measures = [
    'inquiries', 'inquiry_orders', 'conversations', 'answered_conversations',
    'first_response_seconds', 'conversation_minutes'
] -%}
{%- set shipments_measures = [
    'cohort_gmv', 'shipped_orders', 'delivered_orders', 'signed_orders', 'refused_orders',
    'returned_orders', 'signed_gmv', 'refund_amount', 'delivery_days'
] -%}
{{ kpi_incremental_by_date('date_day') }}

with

-- tree.yaml facts.orders: a row of int_orders_enriched, on its business_date
orders_rows as (
    select
        business_date as date_day,
        coalesce(cast(channel as {{ dbt.type_string() }}), '(none)') as dim_channel,
        coalesce(cast(campaign as {{ dbt.type_string() }}), '(none)') as dim_campaign,
        coalesce(cast(payment_method as {{ dbt.type_string() }}), '(none)') as dim_payment_method,
        coalesce(cast(customer_type as {{ dbt.type_string() }}), '(none)') as dim_customer_type,
        -- tree.yaml measures.orders, a count: 1 a row
        cast(1 as {{ kpi_exact() }}) as m_orders,
        -- tree.yaml measures.gmv, a sum
        cast(amount as {{ kpi_exact() }}) as m_gmv,
        -- tree.yaml measures.multi_item_orders, a sum
        -- unknown (null), not 0, while the shop has not delivered order_items
        case
            when {{ kpi_sources_delivered(['order_items']) }}
                then cast(case when distinct_products > 1 then 1 else 0 end as {{ kpi_exact() }})
        end as m_multi_item_orders,
        -- tree.yaml measures.returning_orders, a sum
        cast(
            case when customer_type = 'returning' then 1 else 0 end as {{ kpi_exact() }}
        ) as m_returning_orders,
        -- tree.yaml measures.cod_orders, a sum
        cast(case when is_cod then 1 else 0 end as {{ kpi_exact() }}) as m_cod_orders,
        -- tree.yaml measures.cod_review_minutes, a sum
        cast(case when is_cod then review_minutes end as {{ kpi_exact() }}) as m_cod_review_minutes,
        -- tree.yaml measures.cod_reviewed_orders, a sum
        cast(
            case when is_cod and review_minutes is not null then 1 else 0 end as {{ kpi_exact() }}
        ) as m_cod_reviewed_orders
    from {{ ref('int_orders_enriched') }}
    where
        business_date is not null
        and {{ kpi_in_window('business_date', lookback) }}
),

orders_by_total as (
    select
        date_day,
        'total' as dimension,
        '(all)' as member,
        sum(m_orders) as m_orders,
        sum(m_gmv) as m_gmv,
        sum(m_multi_item_orders) as m_multi_item_orders,
        sum(m_returning_orders) as m_returning_orders,
        sum(m_cod_orders) as m_cod_orders,
        sum(m_cod_review_minutes) as m_cod_review_minutes,
        sum(m_cod_reviewed_orders) as m_cod_reviewed_orders
    from orders_rows
    group by 1, 2, 3
),

orders_by_channel as (
    select
        date_day,
        'channel' as dimension,
        dim_channel as member,
        sum(m_orders) as m_orders,
        sum(m_gmv) as m_gmv,
        sum(m_multi_item_orders) as m_multi_item_orders,
        sum(m_returning_orders) as m_returning_orders,
        sum(m_cod_orders) as m_cod_orders,
        sum(m_cod_review_minutes) as m_cod_review_minutes,
        sum(m_cod_reviewed_orders) as m_cod_reviewed_orders
    from orders_rows
    group by 1, 2, 3
),

orders_by_campaign as (
    select
        date_day,
        'campaign' as dimension,
        dim_campaign as member,
        sum(m_orders) as m_orders,
        sum(m_gmv) as m_gmv,
        sum(m_multi_item_orders) as m_multi_item_orders,
        sum(m_returning_orders) as m_returning_orders,
        sum(m_cod_orders) as m_cod_orders,
        sum(m_cod_review_minutes) as m_cod_review_minutes,
        sum(m_cod_reviewed_orders) as m_cod_reviewed_orders
    from orders_rows
    group by 1, 2, 3
),

orders_by_payment_method as (
    select
        date_day,
        'payment_method' as dimension,
        dim_payment_method as member,
        sum(m_orders) as m_orders,
        sum(m_gmv) as m_gmv,
        sum(m_multi_item_orders) as m_multi_item_orders,
        sum(m_returning_orders) as m_returning_orders,
        sum(m_cod_orders) as m_cod_orders,
        sum(m_cod_review_minutes) as m_cod_review_minutes,
        sum(m_cod_reviewed_orders) as m_cod_reviewed_orders
    from orders_rows
    group by 1, 2, 3
),

orders_by_customer_type as (
    select
        date_day,
        'customer_type' as dimension,
        dim_customer_type as member,
        sum(m_orders) as m_orders,
        sum(m_gmv) as m_gmv,
        sum(m_multi_item_orders) as m_multi_item_orders,
        sum(m_returning_orders) as m_returning_orders,
        sum(m_cod_orders) as m_cod_orders,
        sum(m_cod_review_minutes) as m_cod_review_minutes,
        sum(m_cod_reviewed_orders) as m_cod_reviewed_orders
    from orders_rows
    group by 1, 2, 3
),

-- tree.yaml facts.sessions: a row of stg_shop__sessions, on its business_date
sessions_rows as (
    select
        business_date as date_day,
        coalesce(cast(channel as {{ dbt.type_string() }}), '(none)') as dim_channel,
        coalesce(cast(campaign as {{ dbt.type_string() }}), '(none)') as dim_campaign,
        coalesce(cast(landing_page as {{ dbt.type_string() }}), '(none)') as dim_landing_page,
        -- tree.yaml measures.sessions, a sum
        cast(sessions as {{ kpi_exact() }}) as m_sessions,
        -- tree.yaml measures.paid_sessions, a sum
        cast(case when is_paid then sessions else 0 end as {{ kpi_exact() }}) as m_paid_sessions,
        -- tree.yaml measures.organic_sessions, a sum
        cast(case when is_paid then 0 else sessions end as {{ kpi_exact() }}) as m_organic_sessions,
        -- tree.yaml measures.detail_sessions, a sum
        cast(product_detail_sessions as {{ kpi_exact() }}) as m_detail_sessions
    from {{ ref('stg_shop__sessions') }}
    where
        business_date is not null
        and {{ kpi_in_window('business_date', lookback) }}
),

sessions_by_total as (
    select
        date_day,
        'total' as dimension,
        '(all)' as member,
        sum(m_sessions) as m_sessions,
        sum(m_paid_sessions) as m_paid_sessions,
        sum(m_organic_sessions) as m_organic_sessions,
        sum(m_detail_sessions) as m_detail_sessions
    from sessions_rows
    group by 1, 2, 3
),

sessions_by_channel as (
    select
        date_day,
        'channel' as dimension,
        dim_channel as member,
        sum(m_sessions) as m_sessions,
        sum(m_paid_sessions) as m_paid_sessions,
        sum(m_organic_sessions) as m_organic_sessions,
        sum(m_detail_sessions) as m_detail_sessions
    from sessions_rows
    group by 1, 2, 3
),

sessions_by_campaign as (
    select
        date_day,
        'campaign' as dimension,
        dim_campaign as member,
        sum(m_sessions) as m_sessions,
        sum(m_paid_sessions) as m_paid_sessions,
        sum(m_organic_sessions) as m_organic_sessions,
        sum(m_detail_sessions) as m_detail_sessions
    from sessions_rows
    group by 1, 2, 3
),

sessions_by_landing_page as (
    select
        date_day,
        'landing_page' as dimension,
        dim_landing_page as member,
        sum(m_sessions) as m_sessions,
        sum(m_paid_sessions) as m_paid_sessions,
        sum(m_organic_sessions) as m_organic_sessions,
        sum(m_detail_sessions) as m_detail_sessions
    from sessions_rows
    group by 1, 2, 3
),

-- tree.yaml facts.ad_spend: a row of stg_shop__ad_spend, on its business_date
ad_spend_rows as (
    select
        business_date as date_day,
        coalesce(cast(channel as {{ dbt.type_string() }}), '(none)') as dim_channel,
        coalesce(cast(campaign as {{ dbt.type_string() }}), '(none)') as dim_campaign,
        -- tree.yaml measures.impressions, a sum
        cast(impressions as {{ kpi_exact() }}) as m_impressions,
        -- tree.yaml measures.ad_clicks, a sum
        cast(clicks as {{ kpi_exact() }}) as m_ad_clicks,
        -- tree.yaml measures.ad_spend, a sum
        cast(spend as {{ kpi_exact() }}) as m_ad_spend
    from {{ ref('stg_shop__ad_spend') }}
    where
        business_date is not null
        and {{ kpi_in_window('business_date', lookback) }}
),

ad_spend_by_total as (
    select
        date_day,
        'total' as dimension,
        '(all)' as member,
        sum(m_impressions) as m_impressions,
        sum(m_ad_clicks) as m_ad_clicks,
        sum(m_ad_spend) as m_ad_spend
    from ad_spend_rows
    group by 1, 2, 3
),

ad_spend_by_channel as (
    select
        date_day,
        'channel' as dimension,
        dim_channel as member,
        sum(m_impressions) as m_impressions,
        sum(m_ad_clicks) as m_ad_clicks,
        sum(m_ad_spend) as m_ad_spend
    from ad_spend_rows
    group by 1, 2, 3
),

ad_spend_by_campaign as (
    select
        date_day,
        'campaign' as dimension,
        dim_campaign as member,
        sum(m_impressions) as m_impressions,
        sum(m_ad_clicks) as m_ad_clicks,
        sum(m_ad_spend) as m_ad_spend
    from ad_spend_rows
    group by 1, 2, 3
),

-- tree.yaml facts.conversations: a row of int_conversations_enriched, on its business_date
conversations_rows as (
    select
        business_date as date_day,
        coalesce(cast(agent_id as {{ dbt.type_string() }}), '(none)') as dim_agent,
        coalesce(cast(topic as {{ dbt.type_string() }}), '(none)') as dim_topic,
        -- tree.yaml measures.inquiries, a sum
        cast(case when topic_role = 'presale' then 1 else 0 end as {{ kpi_exact() }}) as m_inquiries,
        -- tree.yaml measures.inquiry_orders, a sum
        -- unknown (null), not 0, while the shop has not delivered orders
        case
            when {{ kpi_sources_delivered(['orders']) }}
                then cast(case when topic_role = 'presale' and led_to_order then 1 else 0 end as {{ kpi_exact() }})
        end as m_inquiry_orders,
        -- tree.yaml measures.conversations, a count: 1 a row
        cast(1 as {{ kpi_exact() }}) as m_conversations,
        -- tree.yaml measures.answered_conversations, a sum
        cast(
            case when first_response_seconds is not null then 1 else 0 end as {{ kpi_exact() }}
        ) as m_answered_conversations,
        -- tree.yaml measures.first_response_seconds, a sum
        cast(first_response_seconds as {{ kpi_exact() }}) as m_first_response_seconds,
        -- tree.yaml measures.conversation_minutes, a sum
        cast(duration_minutes as {{ kpi_exact() }}) as m_conversation_minutes
    from {{ ref('int_conversations_enriched') }}
    where
        business_date is not null
        and {{ kpi_in_window('business_date', lookback) }}
),

conversations_by_total as (
    select
        date_day,
        'total' as dimension,
        '(all)' as member,
        sum(m_inquiries) as m_inquiries,
        sum(m_inquiry_orders) as m_inquiry_orders,
        sum(m_conversations) as m_conversations,
        sum(m_answered_conversations) as m_answered_conversations,
        sum(m_first_response_seconds) as m_first_response_seconds,
        sum(m_conversation_minutes) as m_conversation_minutes
    from conversations_rows
    group by 1, 2, 3
),

conversations_by_agent as (
    select
        date_day,
        'agent' as dimension,
        dim_agent as member,
        sum(m_inquiries) as m_inquiries,
        sum(m_inquiry_orders) as m_inquiry_orders,
        sum(m_conversations) as m_conversations,
        sum(m_answered_conversations) as m_answered_conversations,
        sum(m_first_response_seconds) as m_first_response_seconds,
        sum(m_conversation_minutes) as m_conversation_minutes
    from conversations_rows
    group by 1, 2, 3
),

conversations_by_topic as (
    select
        date_day,
        'topic' as dimension,
        dim_topic as member,
        sum(m_inquiries) as m_inquiries,
        sum(m_inquiry_orders) as m_inquiry_orders,
        sum(m_conversations) as m_conversations,
        sum(m_answered_conversations) as m_answered_conversations,
        sum(m_first_response_seconds) as m_first_response_seconds,
        sum(m_conversation_minutes) as m_conversation_minutes
    from conversations_rows
    group by 1, 2, 3
),

-- tree.yaml facts.shipments: a row of int_shipments_latest, on its order_business_date
shipments_rows as (
    select
        order_business_date as date_day,
        coalesce(cast(channel as {{ dbt.type_string() }}), '(none)') as dim_channel,
        coalesce(cast(campaign as {{ dbt.type_string() }}), '(none)') as dim_campaign,
        coalesce(cast(carrier as {{ dbt.type_string() }}), '(none)') as dim_carrier,
        coalesce(cast(payment_method as {{ dbt.type_string() }}), '(none)') as dim_payment_method,
        -- tree.yaml measures.cohort_gmv, a sum
        cast(order_amount as {{ kpi_exact() }}) as m_cohort_gmv,
        -- tree.yaml measures.shipped_orders, a count: 1 a row
        cast(1 as {{ kpi_exact() }}) as m_shipped_orders,
        -- tree.yaml measures.delivered_orders, a sum
        cast(
            case when status in ('signed', 'refused', 'returned') then 1 else 0 end as {{ kpi_exact() }}
        ) as m_delivered_orders,
        -- tree.yaml measures.signed_orders, a sum
        cast(
            case when status in ('signed', 'returned') then 1 else 0 end as {{ kpi_exact() }}
        ) as m_signed_orders,
        -- tree.yaml measures.refused_orders, a sum
        cast(
            case when status = 'refused' then 1 else 0 end as {{ kpi_exact() }}
        ) as m_refused_orders,
        -- tree.yaml measures.returned_orders, a sum
        cast(
            case when status = 'returned' then 1 else 0 end as {{ kpi_exact() }}
        ) as m_returned_orders,
        -- tree.yaml measures.signed_gmv, a sum
        cast(
            case when status = 'signed' then order_amount else 0 end as {{ kpi_exact() }}
        ) as m_signed_gmv,
        -- tree.yaml measures.refund_amount, a sum
        cast(refund_amount as {{ kpi_exact() }}) as m_refund_amount,
        -- tree.yaml measures.delivery_days, a sum
        cast(delivery_days as {{ kpi_exact() }}) as m_delivery_days
    from {{ ref('int_shipments_latest') }}
    where
        order_business_date is not null
        and {{ kpi_in_window('order_business_date', lookback) }}
),

shipments_by_total as (
    select
        date_day,
        'total' as dimension,
        '(all)' as member,
        sum(m_cohort_gmv) as m_cohort_gmv,
        sum(m_shipped_orders) as m_shipped_orders,
        sum(m_delivered_orders) as m_delivered_orders,
        sum(m_signed_orders) as m_signed_orders,
        sum(m_refused_orders) as m_refused_orders,
        sum(m_returned_orders) as m_returned_orders,
        sum(m_signed_gmv) as m_signed_gmv,
        sum(m_refund_amount) as m_refund_amount,
        sum(m_delivery_days) as m_delivery_days
    from shipments_rows
    group by 1, 2, 3
),

shipments_by_channel as (
    select
        date_day,
        'channel' as dimension,
        dim_channel as member,
        sum(m_cohort_gmv) as m_cohort_gmv,
        sum(m_shipped_orders) as m_shipped_orders,
        sum(m_delivered_orders) as m_delivered_orders,
        sum(m_signed_orders) as m_signed_orders,
        sum(m_refused_orders) as m_refused_orders,
        sum(m_returned_orders) as m_returned_orders,
        sum(m_signed_gmv) as m_signed_gmv,
        sum(m_refund_amount) as m_refund_amount,
        sum(m_delivery_days) as m_delivery_days
    from shipments_rows
    group by 1, 2, 3
),

shipments_by_campaign as (
    select
        date_day,
        'campaign' as dimension,
        dim_campaign as member,
        sum(m_cohort_gmv) as m_cohort_gmv,
        sum(m_shipped_orders) as m_shipped_orders,
        sum(m_delivered_orders) as m_delivered_orders,
        sum(m_signed_orders) as m_signed_orders,
        sum(m_refused_orders) as m_refused_orders,
        sum(m_returned_orders) as m_returned_orders,
        sum(m_signed_gmv) as m_signed_gmv,
        sum(m_refund_amount) as m_refund_amount,
        sum(m_delivery_days) as m_delivery_days
    from shipments_rows
    group by 1, 2, 3
),

shipments_by_carrier as (
    select
        date_day,
        'carrier' as dimension,
        dim_carrier as member,
        sum(m_cohort_gmv) as m_cohort_gmv,
        sum(m_shipped_orders) as m_shipped_orders,
        sum(m_delivered_orders) as m_delivered_orders,
        sum(m_signed_orders) as m_signed_orders,
        sum(m_refused_orders) as m_refused_orders,
        sum(m_returned_orders) as m_returned_orders,
        sum(m_signed_gmv) as m_signed_gmv,
        sum(m_refund_amount) as m_refund_amount,
        sum(m_delivery_days) as m_delivery_days
    from shipments_rows
    group by 1, 2, 3
),

shipments_by_payment_method as (
    select
        date_day,
        'payment_method' as dimension,
        dim_payment_method as member,
        sum(m_cohort_gmv) as m_cohort_gmv,
        sum(m_shipped_orders) as m_shipped_orders,
        sum(m_delivered_orders) as m_delivered_orders,
        sum(m_signed_orders) as m_signed_orders,
        sum(m_refused_orders) as m_refused_orders,
        sum(m_returned_orders) as m_returned_orders,
        sum(m_signed_gmv) as m_signed_gmv,
        sum(m_refund_amount) as m_refund_amount,
        sum(m_delivery_days) as m_delivery_days
    from shipments_rows
    group by 1, 2, 3
),

-- each aggregate turned long: one row a measure
final as (
    {{ kpi_measures_long('orders_by_total', orders_measures) }}
    union all
    {{ kpi_measures_long('orders_by_channel', orders_measures) }}
    union all
    {{ kpi_measures_long('orders_by_campaign', orders_measures) }}
    union all
    {{ kpi_measures_long('orders_by_payment_method', orders_measures) }}
    union all
    {{ kpi_measures_long('orders_by_customer_type', orders_measures) }}
    union all
    {{ kpi_measures_long('sessions_by_total', sessions_measures) }}
    union all
    {{ kpi_measures_long('sessions_by_channel', sessions_measures) }}
    union all
    {{ kpi_measures_long('sessions_by_campaign', sessions_measures) }}
    union all
    {{ kpi_measures_long('sessions_by_landing_page', sessions_measures) }}
    union all
    {{ kpi_measures_long('ad_spend_by_total', ad_spend_measures) }}
    union all
    {{ kpi_measures_long('ad_spend_by_channel', ad_spend_measures) }}
    union all
    {{ kpi_measures_long('ad_spend_by_campaign', ad_spend_measures) }}
    union all
    {{ kpi_measures_long('conversations_by_total', conversations_measures) }}
    union all
    {{ kpi_measures_long('conversations_by_agent', conversations_measures) }}
    union all
    {{ kpi_measures_long('conversations_by_topic', conversations_measures) }}
    union all
    {{ kpi_measures_long('shipments_by_total', shipments_measures) }}
    union all
    {{ kpi_measures_long('shipments_by_channel', shipments_measures) }}
    union all
    {{ kpi_measures_long('shipments_by_campaign', shipments_measures) }}
    union all
    {{ kpi_measures_long('shipments_by_carrier', shipments_measures) }}
    union all
    {{ kpi_measures_long('shipments_by_payment_method', shipments_measures) }}
)

select * from final
