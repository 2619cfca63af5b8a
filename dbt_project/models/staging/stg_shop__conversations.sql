{{ kpi_latest_delivery_config('conversations', ['conversation_id'], in_ranges=true) }}
-- Customer-service conversations, timestamps in UTC (converted at ingestion).
with

source as (
    {{ kpi_deliveries_to_rank(source('shop', 'conversations'), ['conversation_id'], in_ranges=true) }}
),

renamed as (
    select
        conversation_id,
        customer_id,
        agent_id,
        topic,
        started_at,
        business_date,
        first_response_at,
        ended_at,
        {{ dbt.datediff('started_at', 'first_response_at', 'second') }} as first_response_seconds,
        -- a double on every engine (divided by the literal 60.0, Spark keeps a decimal of 6 places)
        cast({{ dbt.datediff('started_at', 'ended_at', 'second') }} as {{ kpi_double() }}) / 60
            as duration_minutes,
        messages,
        order_id,
        satisfaction,
        _partition_date as delivered_on,
        row_number() over (
            partition by conversation_id order by _partition_date desc, _file desc, _row desc
        ) as delivery_rank
    from source
),

final as (
    select
        conversation_id,
        customer_id,
        agent_id,
        topic,
        started_at,
        business_date,
        first_response_at,
        ended_at,
        first_response_seconds,
        duration_minutes,
        messages,
        order_id,
        satisfaction,
        delivered_on
    from renamed
    where delivery_rank = 1
)

select * from final
