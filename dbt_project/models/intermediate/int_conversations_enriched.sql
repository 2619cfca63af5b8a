{{ kpi_incremental_by_date('business_date') }}
-- Conversations with whether a presale inquiry led to an order that exists.
with

conversations as (
    select * from {{ ref('stg_shop__conversations') }}
),

orders as (
    select order_id from {{ ref('stg_shop__orders') }}
),

final as (
    select
        conversations.conversation_id,
        conversations.customer_id,
        conversations.agent_id,
        conversations.topic,
        conversations.started_at,
        conversations.business_date,
        conversations.first_response_seconds,
        conversations.duration_minutes,
        conversations.messages,
        conversations.order_id,
        conversations.satisfaction,
        orders.order_id is not null as led_to_order
    from conversations
    left join orders on conversations.order_id = orders.order_id
)

select * from final
{{ kpi_incremental_filter('business_date') }}
