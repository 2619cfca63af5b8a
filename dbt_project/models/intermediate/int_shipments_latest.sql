{{ kpi_first_build_in_ranges('shipment_id', "ref('stg_shop__shipments')") }}
{{ kpi_incremental_by_key(['shipment_id'], [
    {'ref': 'stg_shop__shipments', 'keys': ['shipment_id']},
]) }}
-- The latest known state of each shipment, in its order's cohort: outcomes count on the
-- business date of the order (so net revenue = GMV x sign-off rate holds for every day).
-- A shipment whose order has not been delivered yet is kept without a cohort (the order's
-- columns are null): the KPIs skip it until the night its order turns up.
-- `delivered_on` is the latest delivery among the shipment's updates and its order.
--
-- A windowed run folds the window's updates into the rows it kept, and reads the updates of
-- earlier deliveries again only for the rows a rerun may have changed: the history of
-- updates (every status change of every shipment) is the largest table of the shop, and a
-- night that scanned it twice spent most of its time here.
with

{% if is_incremental() -%}
-- the updates delivered in the run's window
window_updates as (
    select * from {{ ref('stg_shop__shipments') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the orders delivered in the run's window (new, or delivered again with other content)
delivered_orders as (
    select order_id from {{ ref('stg_shop__orders') }}
    where {{ kpi_in_window('delivered_on') }}
),

-- the kept rows this run rebuilds: of a shipment updated in the window; of an order
-- delivered in it; or derived last time from a delivery in it (a rerun may have taken it back).
-- Read within the range of their keys (kpi_key_range: the end of the table, not all of it),
-- which is found first from the same three conditions, each on its own.
{%- set delivered_order_keys = kpi_window_keys(ref('stg_shop__orders'), 'order_id') %}
{%- set kept_keys -%}
    {{ kpi_window_keys(ref('stg_shop__shipments'), 'shipment_id') }}
    union all
    select shipment_id from {{ this }}
    where order_id in ({{ delivered_order_keys }})
      and {{ kpi_key_range('order_id', delivered_order_keys) }}
    union all
    {{ kpi_window_keys(this, 'shipment_id') }}
{%- endset %}
kept as (
    select * from {{ this }}
    where (
        shipment_id in (select shipment_id from window_updates)
        or order_id in (select order_id from delivered_orders)
        or {{ kpi_in_window('delivered_on') }}
    )
      and {{ kpi_key_range('shipment_id', kept_keys) }}
),

{% endif -%}
-- the candidate updates of each shipment this run rebuilds (every update on a first build,
-- in ranges of shipment_id when there are many: macros/kpi/build_ranges.sql):
-- the window's, each kept row (its latest update, standing for every earlier one), and the
-- updates read again for rows a rerun may have changed
updates as (
    {%- set columns -%}
        shipment_id, order_id, carrier, payment_method, status, shipped_at, delivered_at,
        returned_at, refund_amount, updated_at, updated_on, delivered_on
    {%- endset %}
    {%- if is_incremental() %}
    {{ kpi_window_and_kept_rows('window_updates', 'kept', ref('stg_shop__shipments'), 'shipment_id', columns) }}
    {%- else %}
    select {{ columns }} from {{ ref('stg_shop__shipments') }}
    where {{ kpi_build_range('shipment_id') }}
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by shipment_id order by updated_at desc, delivered_on desc
        ) as recency,
        max(delivered_on) over (partition by shipment_id) as last_delivered_on
    from updates
),

latest as (
    select * from ranked
    where recency = 1
),

-- their orders (only the columns used): on a windowed run looked up within the range of the
-- orders of the window's updates and of the orders delivered in it (kpi_rows_by_key)
orders as (
    {%- set order_columns = 'order_id, business_date, channel, campaign, amount, delivered_on' %}
    {%- if is_incremental() %}
    {{ kpi_rows_by_key(
        ref('stg_shop__orders'), order_columns, 'order_id', 'select order_id from latest',
        kpi_window_keys(ref('stg_shop__shipments'), 'order_id') ~ ' union all '
            ~ delivered_order_keys
    ) }}
    {%- else %}
    select {{ order_columns }} from {{ ref('stg_shop__orders') }}
    {%- endif %}
),

final as (
    select
        latest.shipment_id,
        latest.order_id,
        orders.business_date as order_business_date,
        orders.channel,
        orders.campaign,
        orders.amount as order_amount,
        latest.carrier,
        latest.payment_method,
        latest.status,
        latest.shipped_at,
        latest.delivered_at,
        latest.returned_at,
        latest.refund_amount,
        latest.updated_at,
        latest.updated_on,
        -- a double on every engine (divided by the literal 86400.0, Spark keeps a decimal of 6 places)
        cast({{ dbt.datediff('latest.shipped_at', 'latest.delivered_at', 'second') }} as {{ kpi_double() }}) / 86400
            as delivery_days,
        greatest(latest.last_delivered_on, orders.delivered_on) as delivered_on
    from latest
    left join orders on latest.order_id = orders.order_id
)

select * from final
