-- Ad platform reports per day x paid channel x campaign (dates already in business time).
with

source as (
    select * from {{ source('shop', 'ad_spend') }}
),

renamed as (
    select
        date as business_date,
        channel,
        campaign,
        impressions,
        clicks,
        {{ dbt.safe_cast('spend', api.Column.translate_type('decimal(18,2)')) }} as spend,
        row_number() over (
            partition by date, channel, campaign order by _partition_date desc, _file desc, _row desc
        ) as delivery_rank
    from source
),

final as (
    select
        business_date,
        channel,
        campaign,
        impressions,
        clicks,
        spend
    from renamed
    where delivery_rank = 1
)

select * from final
