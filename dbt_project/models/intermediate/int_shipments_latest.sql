{{ kpi_incremental_by_date('order_business_date') }}
-- The latest known state of each shipment, in its order's cohort: outcomes count on the
-- business date of the order (so net revenue = GMV x sign-off rate holds for every day).
with

-- the orders whose shipments this run rebuilds (all of them on a first build), and only
-- their shipments' updates
orders as (  -- only the columns used: DuckDB materializes a CTE used twice
    select order_id, business_date, channel, campaign, amount
    from {{ ref('stg_shop__orders') }}
    {{ kpi_incremental_filter('business_date') }}
),

updates as (
    select * from {{ ref('stg_shop__shipments') }}
    {%- if is_incremental() %}
    where order_id in (select order_id from orders)
    {%- endif %}
),

ranked as (
    select
        updates.*,
        row_number() over (
            partition by shipment_id order by updated_at desc, delivered_on desc
        ) as recency
    from updates
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
            as delivery_days
    from ranked
    inner join orders on ranked.order_id = orders.order_id
    where ranked.recency = 1
)

select * from final
