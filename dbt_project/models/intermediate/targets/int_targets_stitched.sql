-- The day targets in force: for every day, the targets of the plan version in force that day
-- (the latest created version whose effective_from is on or before the day). A version made
-- mid-month therefore changes the days from its effective date on and leaves the earlier days
-- with the targets they had.
with

versions as (
    select * from {{ ref('stg_targets__plan_versions') }}
),

day_targets as (
    select * from {{ ref('stg_targets__targets') }}
    where grain = 'day'
),

candidates as (
    select distinct
        day_targets.period_start as date_day,
        versions.version_id,
        versions.created_at
    from day_targets
    inner join versions
        on day_targets.version_id = versions.version_id
        and day_targets.period_start >= versions.effective_from
),

in_force as (
    select
        date_day,
        version_id,
        row_number() over (
            partition by date_day order by created_at desc, version_id desc
        ) as version_rank
    from candidates
),

final as (
    select
        day_targets.period_start as date_day,
        day_targets.kpi_id,
        day_targets.scope,
        day_targets.dimension,
        day_targets.member,
        day_targets.version_id,
        day_targets.value
    from day_targets
    inner join in_force
        on day_targets.period_start = in_force.date_day
        and day_targets.version_id = in_force.version_id
        and in_force.version_rank = 1
)

select * from final
