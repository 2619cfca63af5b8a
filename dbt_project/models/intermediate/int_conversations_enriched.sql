{{ kpi_first_build_in_ranges('order_id', "ref('stg_shop__conversations')") }}
{{ kpi_incremental_by_key(['conversation_id'], [
    {'ref': 'stg_shop__conversations', 'keys': ['conversation_id']},
]) }}
-- Conversations with their topic's role and whether a presale inquiry led to an order that
-- exists. `delivered_on` is the latest delivery among the conversation and its order. A
-- windowed run reads the window's conversations from staging and takes the others it
-- rebuilds from the rows it kept.
with

{% if is_incremental() -%}
-- the conversations delivered in the run's window
window_conversations as (
    select * from {{ ref('stg_shop__conversations') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the orders delivered in the run's window (an order can turn up after its inquiry)
delivered_orders as (
    select order_id from {{ ref('stg_shop__orders') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the kept rows this run rebuilds besides the window's: about an order delivered in it, or
-- derived last time from a delivery in it (a rerun may have taken it back). Their keys are
-- found first, on narrow scans, then the rows by key: one scan of every column of every kept
-- row, filtered by the two conditions OR-ed together, reads far more than the two narrow
-- scans do here. (In int_shipments_latest the one wide scan is cheaper.)
-- Each lookup reads only the range of its keys (kpi_key_range: the end of the table; the
-- kept rows' as a join, which reads nothing when a new night has none).
{%- set delivered_order_keys = kpi_window_keys(ref('stg_shop__orders'), 'order_id') %}
{%- set about_delivered_orders -%}
    select conversation_id from {{ this }}
    where order_id in ({{ delivered_order_keys }})
      and {{ kpi_key_range('order_id', delivered_order_keys) }}
{%- endset %}
{%- set from_the_window = kpi_window_keys(this, 'conversation_id') %}
kept_keys as materialized (
    {{ about_delivered_orders }}
    union
    {{ from_the_window }}
),

kept as (
    select kept_rows.* from {{ this }} as kept_rows
    {{ kpi_key_range_join('kept_rows.conversation_id', about_delivered_orders ~ ' union all ' ~ from_the_window) }}
    where kept_rows.conversation_id in (select conversation_id from kept_keys)
      and kept_rows.conversation_id not in (select conversation_id from window_conversations)
),

{% endif -%}
-- the conversations this run rebuilds (all of them on a first build, in ranges of order_id
-- with their orders when there are many: macros/kpi/build_ranges.sql): the window's, and the
-- kept ones (read again from staging only when a rerun may have changed them)
conversations as (
    {%- set columns -%}
        conversation_id, customer_id, agent_id, topic, started_at, business_date,
        first_response_seconds, duration_minutes, messages, order_id, satisfaction, delivered_on
    {%- endset %}
    {%- if is_incremental() %}
    {{ kpi_window_and_kept_rows('window_conversations', 'kept', ref('stg_shop__conversations'), 'conversation_id', columns) }}
    {%- else %}
    select {{ columns }} from {{ ref('stg_shop__conversations') }}
    where {{ kpi_build_range('order_id') }}
    {%- endif %}
),

-- their orders: on a windowed run looked up within the range of the orders of the window's
-- conversations and of the orders delivered in it (kpi_rows_by_key)
orders as (
    {%- if is_incremental() %}
    {{ kpi_rows_by_key(
        ref('stg_shop__orders'), 'order_id, delivered_on', 'order_id',
        'select order_id from conversations',
        kpi_window_keys(ref('stg_shop__conversations'), 'order_id') ~ ' union all '
            ~ delivered_order_keys
    ) }}
    {%- else %}
    select order_id, delivered_on from {{ ref('stg_shop__orders') }}
    where {{ kpi_build_range('order_id') }}
    {%- endif %}
),

final as (
    select
        conversations.conversation_id,
        conversations.customer_id,
        conversations.agent_id,
        conversations.topic,
        -- the topic's role (presale, aftersale, order_review) in the shop's vocabulary
        {{ kpi_topic_role('conversations.topic') }} as topic_role,
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
