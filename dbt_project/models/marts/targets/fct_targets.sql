{#
  The targets in force at every grain (day, ISO week, month, quarter, year) for every KPI and
  scope, stitched from the day targets of the version in force on each day. An additive KPI's
  period target is the sum of its day targets; a rate's is the mean of the rates in force on
  the period's days (the plan's rate, unless a new version took effect within the period).
  Every version's own targets stay in stg_targets__targets (published as kpi_tree.targets).
#}
{%- set grains = ['day', 'week', 'month', 'quarter', 'year'] %}

with

days as (
    select * from {{ ref('int_targets_stitched') }}
),

nodes as (
    select kpi_id, formula_kind from {{ ref('dim_kpi_nodes') }}
),

periods as (
    {%- for grain in grains %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'days.date_day') }} as period_start,
        days.kpi_id,
        days.scope,
        days.dimension,
        days.member,
        days.version_id,
        days.date_day,
        days.value,
        nodes.formula_kind
    from days
    inner join nodes on days.kpi_id = nodes.kpi_id
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

final as (
    select
        grain,
        period_start,
        case grain
            {%- for grain in grains %}
            when '{{ grain }}' then {{ kpi_period_end(grain, 'period_start') }}
            {%- endfor %}
        end as period_end,
        kpi_id,
        scope,
        dimension,
        member,
        case when max(formula_kind) = 'sum' then sum(value) else avg(value) end as target,
        count(*) as target_days,
        max(version_id) as version_id,
        count(distinct version_id) as versions_in_force
    from periods
    group by grain, period_start, kpi_id, scope, dimension, member
)

select * from final
