{{ kpi_first_build_in_ranges('order_id', "ref('stg_shop__orders')") }}
{{ kpi_incremental_by_key(['order_id'], [{'ref': 'stg_shop__orders', 'keys': ['order_id']}]) }}
-- One row per order with its basket (lines, products, units), whether the customer had
-- ordered before (new / returning), whether it is cash on delivery and how long its review
-- took. `delivered_on` is the
-- latest delivery among the order, its lines and its customer's first order.
-- Every CTE used more than once is materialized by DuckDB: never read the whole order
-- history as a CTE of its own, which would hold every order in memory and, on a large
-- shop, spill to disk every night.
with

{% if is_incremental() -%}
-- the orders delivered in the run's window
delivered as (
    select * from {{ ref('stg_shop__orders') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the orders this run rebuilds: delivered in the window, or with a line delivered in it;
-- rebuilt last time from a delivery in the window (a rerun may have taken it back); and the
-- later orders of a customer with an order delivered in the window (new / returning), read
-- from the orders created after the window's first (kpi_lower_bound: on a night for the
-- newest day the end of the table, not every order of the history).
-- Materialized: DuckDB then knows how few they are, and looks the rest of them up in the
-- orders (below) by hashing them, not every order (unmaterialized, it hashes the whole order
-- history each night).
affected as materialized (
    select order_id from delivered
    union
    select order_id from {{ ref('stg_shop__order_items') }}
    where {{ kpi_in_window('delivered_on') }}
    union
    select order_id from {{ this }}
    where {{ kpi_in_window('delivered_on') }}
    union
    select later.order_id
    from {{ this }} later
    inner join delivered
        on later.customer_id = delivered.customer_id and later.created_at > delivered.created_at
    where {{ kpi_lower_bound(
        'later.created_at', kpi_window_keys(ref('stg_shop__orders'), 'created_at')
    ) }}
),

{% endif -%}
-- the orders this run rebuilds (all of them on a first build, with their lines in ranges of
-- order_id when there are many: macros/kpi/build_ranges.sql): those delivered in the window,
-- then the others looked up by key (none on a night for the newest day, which then reads
-- no order delivered before it)
orders as (
    {%- if is_incremental() %}
    select * from delivered
    union all
    select * from {{ ref('stg_shop__orders') }}
    where not ({{ kpi_in_window('delivered_on') }})
      and order_id in (select order_id from affected except select order_id from delivered)
    {%- else %}
    select * from {{ ref('stg_shop__orders') }}
    where {{ kpi_build_range('order_id') }}
    {%- endif %}
),

-- their lines: those of the orders delivered in the window, looked up within the range of
-- their keys (kpi_key_range: the end of the lines' table, not all of it), then those of the
-- others (none on a night for the newest day)
items as (
    {%- if is_incremental() %}
    select * from {{ ref('stg_shop__order_items') }}
    where order_id in (select order_id from delivered)
      and {{ kpi_key_range('order_id', kpi_window_keys(ref('stg_shop__orders'), 'order_id')) }}
    union all
    select * from {{ ref('stg_shop__order_items') }}
    where order_id in (
        select order_id from orders where not ({{ kpi_in_window('delivered_on') }})
    )
    {%- else %}
    select * from {{ ref('stg_shop__order_items') }}
    where {{ kpi_build_range('order_id') }}
    {%- endif %}
),

baskets as (
    select
        order_id,
        count(*) as line_count,
        {{ kpi_count_distinct('product_id') }} as distinct_products,
        sum(quantity) as units,
        sum(line_amount) as items_amount,
        max(delivered_on) as delivered_on
    from items
    group by order_id
),

-- each customer's first order: when, and its delivery (int_customers: one row a customer,
-- where a lookup by customer in the orders read every order of the history)
first_orders as (
    select customer_id, first_order_at, first_order_delivered_on as delivered_on
    from {{ ref('int_customers') }}
    {%- if is_incremental() %}
    where customer_id in (select customer_id from orders)
    {%- endif %}
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.created_at,
        orders.business_date,
        orders.channel,
        orders.campaign,
        orders.payment_method,
        -- cash on delivery: the shop's COD payment methods (kpi.yaml vocabulary)
        {{ kpi_is_member('orders.payment_method', 'cod_payment_methods') }} as is_cod,
        orders.amount,
        coalesce(baskets.line_count, 0) as line_count,
        coalesce(baskets.distinct_products, 0) as distinct_products,
        coalesce(baskets.units, 0) as units,
        baskets.items_amount,
        case when first_orders.first_order_at < orders.created_at then 'returning' else 'new' end
            as customer_type,
        -- a double on every engine (divided by the literal 60.0, Spark keeps a decimal of 6 places)
        cast({{ dbt.datediff('orders.created_at', 'orders.reviewed_at', 'second') }} as {{ kpi_double() }}) / 60
            as review_minutes,
        greatest(
            orders.delivered_on,
            coalesce(baskets.delivered_on, orders.delivered_on),
            coalesce(first_orders.delivered_on, orders.delivered_on)
        ) as delivered_on
    from orders
    left join baskets on orders.order_id = baskets.order_id
    left join first_orders on orders.customer_id = first_orders.customer_id
)

select * from final
