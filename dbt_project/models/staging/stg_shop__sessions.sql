-- Web traffic per hour x channel x campaign x landing page.
with

source as (
    select * from {{ source('shop', 'sessions') }}
),

renamed as (
    select
        hour_start,
        business_date,
        channel,
        campaign,
        landing_page,
        {{ kpi_is_member('channel', 'paid_channels') }} as is_paid,
        sessions,
        product_detail_sessions,
        product_views,
        bounces,
        -- business_date is the hour's date in the business zone (ingestion's), so it adds
        -- nothing to the key; in the partition it lets a reader's filter on business_date (a
        -- night's window) reach the raw scan, which otherwise ranks every hour of the history
        row_number() over (
            partition by business_date, hour_start, channel, campaign, landing_page
            order by _partition_date desc, _file desc, _row desc
        ) as delivery_rank
    from source
),

final as (
    select
        hour_start,
        business_date,
        channel,
        campaign,
        landing_page,
        is_paid,
        sessions,
        product_detail_sessions,
        product_views,
        bounces
    from renamed
    where delivery_rank = 1
)

select * from final
