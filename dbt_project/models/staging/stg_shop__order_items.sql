{{ kpi_latest_delivery_config('order_items', ['order_id', 'line_no']) }}
-- One row per order line; the latest delivery of a line wins.
with

source as (
    {{ kpi_deliveries_to_rank(source('shop', 'order_items'), ['order_id', 'line_no']) }}
),

renamed as (
    select
        order_id,
        line_no,
        product_id,
        category,
        quantity,
        {{ dbt.safe_cast('unit_price', api.Column.translate_type('decimal(18,2)')) }} as unit_price,
        {{ dbt.safe_cast('line_amount', api.Column.translate_type('decimal(18,2)')) }} as line_amount,
        _partition_date as delivered_on,
        row_number() over (
            partition by order_id, line_no order by _partition_date desc, _file desc, _row desc
        ) as delivery_rank
    from source
),

final as (
    select
        order_id,
        line_no,
        product_id,
        category,
        quantity,
        unit_price,
        line_amount,
        delivered_on
    from renamed
    where delivery_rank = 1
)

select * from final
