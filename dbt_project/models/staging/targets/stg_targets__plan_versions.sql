-- Target plan versions, as stored by `kpi targets plan` or the nightly run (one row each).
with

source as (
    select * from {{ source('targets', 'plan_versions') }}
),

final as (
    select
        version_id,
        plan_name,
        plan_year,
        top_kpi as top_kpi_id,
        author,
        created_at,
        reason,
        effective_from,
        plan_hash,
        plan_file,
        method,
        annual_target,
        new_business,
        months_total,
        history_as_of,
        drivers,
        shares
    from source
)

select * from final
