{{ kpi_incremental_by_key(['conversation_id'], [
    {'ref': 'stg_shop__conversations', 'keys': ['conversation_id']},
]) }}
-- Conversations with whether a presale inquiry led to an order that exists. `delivered_on`
-- is the latest delivery among the conversation and its order.
with

{% if is_incremental() -%}
-- the orders delivered in the run's window (an order can turn up after its inquiry)
delivered_orders as (
    select order_id from {{ ref('stg_shop__orders') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the conversations this run rebuilds: delivered in the window; about an order delivered in
-- it; or rebuilt last time from a delivery in the window (a rerun may have taken it back)
affected as (
    select conversation_id from {{ ref('stg_shop__conversations') }}
    where {{ kpi_in_window('delivered_on') }}
    union
    select conversation_id from {{ this }}
    where {{ kpi_in_window('delivered_on') }}
       or order_id in (select order_id from delivered_orders)
),

{% endif -%}
conversations as (
    select * from {{ ref('stg_shop__conversations') }}
    {%- if is_incremental() %}
    where conversation_id in (select conversation_id from affected)
    {%- endif %}
),

orders as (
    select order_id, delivered_on from {{ ref('stg_shop__orders') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from conversations)
    {%- endif %}
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
        orders.order_id is not null as led_to_order,
        greatest(
            conversations.delivered_on,
            coalesce(orders.delivered_on, conversations.delivered_on)
        ) as delivered_on
    from conversations
    left join orders on conversations.order_id = orders.order_id
)

select * from final
