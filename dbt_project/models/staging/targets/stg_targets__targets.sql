-- Every target of every plan version: KPI x grain x period x scope. `dimension` / `member`
-- name the actuals a scope is paced against (total / (all) for the whole shop; null when the
-- scope has no actuals in the warehouse, e.g. new business or a sales rep).
with

source as (
    select * from {{ source('targets', 'targets') }}
),

final as (
    select
        version_id,
        kpi_id,
        grain,
        period,
        period_start,
        period_end,
        scope,
        dimension,
        member,
        value
    from source
)

select * from final
