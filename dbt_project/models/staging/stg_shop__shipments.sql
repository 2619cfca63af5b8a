-- Every shipment status update (a shipment appears once per change of status).
with

source as (
    select * from {{ source('shop', 'shipments') }}
),

renamed as (
    select
        shipment_id,
        order_id,
        carrier,
        payment_method,
        status,
        shipped_at,
        delivered_at,
        returned_at,
        {{ dbt.safe_cast('refund_amount', api.Column.translate_type('decimal(18,2)')) }} as refund_amount,
        updated_at,
        business_date as updated_on,
        _partition_date as delivered_on
    from source
),

final as (
    select * from renamed
)

select * from final
