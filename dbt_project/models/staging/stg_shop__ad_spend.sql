-- Ad platform reports per day x paid channel x campaign (dates already in business time).
-- spread_from: 'week' or 'month' where the row is a day's share of a weekly or monthly row,
-- spread evenly over its days at ingestion (kpi.yaml: sources.ad_spend.grain); null for a
-- row the report gave for its day.
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
        spread_from,
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
        spend,
        spread_from
    from renamed
    where delivery_rank = 1
)

select * from final
