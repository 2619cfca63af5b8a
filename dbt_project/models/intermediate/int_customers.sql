{{ kpi_incremental_by_key(['customer_id'], [{'ref': 'stg_shop__orders', 'keys': ['customer_id']}]) }}
-- One row per customer who has ordered: their first order (when, and its delivery), for
-- int_orders_enriched's new / returning. Among orders created at the same instant any one's
-- delivery does: they are all first. `delivered_on` is the latest delivery among the
-- customer's orders.
--
-- A windowed run folds the window's orders into the customers' kept rows: the kept first
-- order stands for every earlier order of the customer, so a night reads its own orders and
-- this table (one row a customer), never the order history, which a lookup by customer
-- reads whole (customer keys do not follow time: a returning customer's key is old).
with

{% if is_incremental() -%}
-- the orders delivered in the run's window
window_orders as (
    select customer_id, created_at, delivered_on from {{ ref('stg_shop__orders') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the kept rows this run rebuilds: of a customer with an order delivered in the window, or
-- derived last time from a delivery in it (a rerun may have taken it back)
kept as (
    select * from {{ this }}
    where customer_id in (select customer_id from window_orders)
       or {{ kpi_in_window('delivered_on') }}
),

{% endif -%}
-- the orders of the customers this run rebuilds (every order on a first build), each with
-- its own delivery (first_delivered_on) and the delivery its row stands for (delivered_on):
-- the window's; each kept row's first order, standing for the customer's orders delivered
-- before the window; and, read again from staging, the orders of the kept rows derived from
-- a delivery in the window or after it (none on a night for the newest day)
orders as (
    {%- set columns = 'customer_id, created_at, delivered_on as first_delivered_on, delivered_on' %}
    {%- if is_incremental() %}
    {{ kpi_window_and_kept_rows(
        'window_orders', 'kept', ref('stg_shop__orders'), 'customer_id', columns,
        kept_columns='customer_id, first_order_at, first_order_delivered_on, delivered_on'
    ) }}
    {%- else %}
    select {{ columns }} from {{ ref('stg_shop__orders') }}
    {%- endif %}
),

final as (
    select
        customer_id,
        min(created_at) as first_order_at,
        {{ kpi_min_by('first_delivered_on', 'created_at') }} as first_order_delivered_on,
        max(delivered_on) as delivered_on
    from orders
    group by customer_id
)

select * from final
