{{ kpi_latest_delivery_config('orders', ['order_id']) }}
-- One row per order. An order delivered again in a later file (with other content) keeps
-- its latest delivery.
with

source as (
    {{ kpi_deliveries_to_rank(source('shop', 'orders'), ['order_id']) }}
),

renamed as (
    select
        order_id,
        customer_id,
        created_at,
        business_date,
        channel,
        campaign,
        payment_method,
        {{ dbt.safe_cast('amount', api.Column.translate_type('decimal(18,2)')) }} as amount,
        reviewed_at,
        _partition_date as delivered_on,
        row_number() over (
            partition by order_id order by _partition_date desc, _file desc, _row desc
        ) as delivery_rank
    from source
),

final as (
    select
        order_id,
        customer_id,
        created_at,
        business_date,
        channel,
        campaign,
        payment_method,
        amount,
        reviewed_at,
        delivered_on
    from renamed
    where delivery_rank = 1
)

select * from final
