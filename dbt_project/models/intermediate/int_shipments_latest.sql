{{ kpi_incremental_by_key(['shipment_id'], [
    {'ref': 'stg_shop__shipments', 'keys': ['shipment_id']},
    {'ref': 'stg_shop__orders', 'keys': ['order_id']},
]) }}
-- The latest known state of each shipment, in its order's cohort: outcomes count on the
-- business date of the order (so net revenue = GMV x sign-off rate holds for every day).
-- `delivered_on` is the latest delivery among the shipment's updates and its order.
with

{% if is_incremental() -%}
-- the orders delivered in the run's window (new, or delivered again with other content)
delivered_orders as (
    select order_id from {{ ref('stg_shop__orders') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the shipments this run rebuilds: with an update delivered in the window; of an order
-- delivered in it; or rebuilt last time from a delivery in the window (a rerun may have
-- taken it back)
affected as (
    select shipment_id from {{ ref('stg_shop__shipments') }}
    where {{ kpi_in_window('delivered_on') }}
       or order_id in (select order_id from delivered_orders)
    union
    select shipment_id from {{ this }}
    where {{ kpi_in_window('delivered_on') }}
),

{% endif -%}
-- the updates of the shipments this run rebuilds (all of them on a first build)
updates as (
    select * from {{ ref('stg_shop__shipments') }}
    {%- if is_incremental() %}
    where shipment_id in (select shipment_id from affected)
    {%- endif %}
),

ranked as (
    select
        updates.*,
        row_number() over (
            partition by shipment_id order by updated_at desc, delivered_on desc
        ) as recency,
        max(delivered_on) over (partition by shipment_id) as last_delivered_on
    from updates
),

orders as (  -- only the columns used
    select order_id, business_date, channel, campaign, amount, delivered_on
    from {{ ref('stg_shop__orders') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from updates)
    {%- endif %}
),

final as (
    select
        ranked.shipment_id,
        ranked.order_id,
        orders.business_date as order_business_date,
        orders.channel,
        orders.campaign,
        orders.amount as order_amount,
        ranked.carrier,
        ranked.payment_method,
        ranked.status,
        ranked.shipped_at,
        ranked.delivered_at,
        ranked.returned_at,
        ranked.refund_amount,
        ranked.updated_at,
        ranked.updated_on,
        {{ dbt.datediff('ranked.shipped_at', 'ranked.delivered_at', 'second') }} / 86400.0
            as delivery_days,
        greatest(ranked.last_delivered_on, orders.delivered_on) as delivered_on
    from ranked
    inner join orders on ranked.order_id = orders.order_id
    where ranked.recency = 1
)

select * from final
