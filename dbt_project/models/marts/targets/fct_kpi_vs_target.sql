{#
  Pace: every KPI x scope against its target, on every day (as_of_day), for the month, the
  quarter and the year to date.

  - paced_target: an additive KPI's day targets summed to date (the target's own daily
    weights: weekdays, holidays, the Spring Festival, 6.18; not a straight line); a rate's
    target in force (the mean of its day targets to date).
  - actual: Σ to date (additive) or scale x Σnumerator / Σdenominator to date (a rate).
  - attainment: actual / paced_target for higher-is-better KPIs, paced_target / actual for
    lower-is-better ones; status from it with the pace_on_track / pace_at_risk vars, or
    not_judged while a provisional day to date has no expected value (only its observed part).
  - projected: the period's end at the current run rate, actual / elapsed_share (a rate: its
    value to date); needed_remaining / planned_remaining: what the rest of the period must
    bring against what the plan expected of it (catch_up_factor = their ratio; none on the
    period's last day, when nothing remains).
  - As of a day, the plan is what was in force that day (docs/architecture.md, invariant 11):
    the days to date have the targets in force on each of them, the days after it the
    targets of the version in force on the day itself. A version that takes effect later
    changes the rows from its first day on and leaves every earlier row as it was.
  - A day a source of the KPI is missing (fct_source_gaps) is left out on both sides: the
    actual to date lacks it, so the paced target (and a rate's target in force) leaves out its
    day target too, and the projection runs the days that have the source over the period's
    whole plan. needed_remaining counts the missing days as on plan (the target less theirs).
    missing_days / gap_sources say the period to date is incomplete; day_missing that the
    as-of day itself is unknown (no alert judges it).
  Percentile KPIs are not paced (they have no period-to-date parts), nor are KPIs the shop
  cannot compute (fct_kpi_availability). Scopes without actuals in the warehouse (new
  business, regions, people) are in fct_targets only.
#}
{%- set grains = ['month', 'quarter', 'year'] %}
{%- set partition = 'partition by period_grain, period_start, kpi_id, scope' %}
{%- set to_date = partition ~ ' order by as_of_day rows between unbounded preceding and current row' %}

with

targets as (
    select * from {{ ref('int_targets_stitched') }}
    where dimension is not null
),

-- only the KPIs the shop can compute are paced: one whose source never came has no
-- actual to judge (its targets stay in fct_targets)
nodes as (
    select kpi_id, team, direction, formula_kind, scale
    from {{ ref('dim_kpi_nodes') }}
    where
        formula_kind in ('sum', 'ratio')
        and kpi_id in (
            select availability.kpi_id from {{ ref('fct_kpi_availability') }} as availability
            where availability.is_available
        )
),

-- every version's own day targets, running through each period: what a version planned for
-- the rest of a period after any of its days
version_days as (
    {%- for grain in grains %}
    select
        '{{ grain }}' as period_grain,
        {{ kpi_period_start(grain, 'period_start') }} as period_start,
        period_start as date_day,
        version_id,
        kpi_id,
        scope,
        coalesce(sum(value) over (
            partition by version_id, kpi_id, scope, {{ kpi_period_start(grain, 'period_start') }}
            order by period_start rows between 1 following and unbounded following
        ), 0) as rest_value,
        count(*) over (
            partition by version_id, kpi_id, scope, {{ kpi_period_start(grain, 'period_start') }}
            order by period_start rows between 1 following and unbounded following
        ) as rest_days
    from {{ ref('stg_targets__targets') }}
    where grain = 'day' and dimension is not null
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

-- a provisional day is judged on its expected final value where it has one (issue 41; a
-- carrier's slice has none and stays observed), and its observed value is kept beside
actuals as (
    select
        period_start as date_day,
        kpi_id,
        dimension,
        member,
        case
            when is_provisional and expected_value is not null then expected_numerator
            else numerator
        end as numerator,
        case
            when is_provisional and expected_value is not null then expected_denominator
            else denominator
        end as denominator,
        numerator as observed_numerator,
        denominator as observed_denominator,
        is_provisional,
        is_provisional and expected_value is not null as is_expected
    from {{ ref('fct_kpi_values') }}
    where grain = 'day'
),

-- the days a source of the KPI is missing: unknown, left out of actual and paced target alike
source_gaps as (
    select kpi_id, date_day, source from {{ ref('fct_source_gaps') }}
),

gap_days as (
    select distinct kpi_id, date_day from source_gaps
),

data_as_of as (
    select {{ kpi_as_of_date('date_day') }} as as_of_date from {{ ref('fct_base_measures') }}
),

spine as (
    select
        targets.date_day as as_of_day,
        targets.kpi_id,
        targets.scope,
        targets.dimension,
        targets.member,
        targets.version_id,
        targets.value as day_target,
        nodes.team,
        nodes.direction,
        nodes.formula_kind,
        nodes.scale,
        actuals.numerator,
        actuals.denominator,
        actuals.is_provisional,
        gap_days.kpi_id is not null as day_missing,
        actuals.observed_numerator,
        actuals.observed_denominator,
        actuals.is_expected,
        data_as_of.as_of_date
    from targets
    inner join nodes on targets.kpi_id = nodes.kpi_id
    cross join data_as_of
    left join actuals
        on targets.date_day = actuals.date_day
        and targets.kpi_id = actuals.kpi_id
        and targets.dimension = actuals.dimension
        and targets.member = actuals.member
    left join gap_days
        on targets.date_day = gap_days.date_day and targets.kpi_id = gap_days.kpi_id
),

periods as (
    {%- for grain in grains %}
    select
        '{{ grain }}' as period_grain,
        {{ kpi_period_start(grain, 'as_of_day') }} as period_start,
        {{ kpi_period_end(grain, kpi_period_start(grain, 'as_of_day')) }} as period_end,
        spine.*
    from spine
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

running as (
    select
        *,
        sum(day_target) over ({{ to_date }}) as target_to_date,
        avg(case when not day_missing then day_target end) over ({{ to_date }})
            as rate_target_to_date,
        sum(case when day_missing then day_target else 0 end) over ({{ to_date }})
            as missing_target,
        sum(case when day_missing then 1 else 0 end) over ({{ to_date }}) as missing_days,
        sum(coalesce(numerator, 0)) over ({{ to_date }}) as numerator_to_date,
        sum(coalesce(denominator, 0)) over ({{ to_date }}) as denominator_to_date,
        count(*) over ({{ to_date }}) as days_elapsed,
        count(numerator) over ({{ to_date }}) as days_with_data,
        max(case when is_provisional then 1 else 0 end) over ({{ to_date }}) as provisional_days,
        sum(coalesce(observed_numerator, 0)) over ({{ to_date }}) as observed_numerator_to_date,
        sum(coalesce(observed_denominator, 0)) over ({{ to_date }}) as observed_denominator_to_date,
        sum(case when is_provisional and not is_expected then 1 else 0 end) over ({{ to_date }})
            as observed_only_days
    from periods
),

-- the period's target as of its day: the targets in force to date, and what the version in
-- force that day planned for the days after it
as_of_plan as (
    select
        running.*,
        running.target_to_date + version_days.rest_value as target_period_sum,
        (running.target_to_date + version_days.rest_value)
        / (running.days_elapsed + version_days.rest_days) as rate_target_period,
        version_days.rest_value as planned_rest,
        version_days.rest_days as days_left_in_plan
    from running
    inner join version_days
        on running.period_grain = version_days.period_grain
        and running.period_start = version_days.period_start
        and running.as_of_day = version_days.date_day
        and running.version_id = version_days.version_id
        and running.kpi_id = version_days.kpi_id
        and running.scope = version_days.scope
),

valued as (
    select
        *,
        case when formula_kind = 'sum' then target_period_sum else rate_target_period end
            as target,
        case
            when formula_kind = 'sum' then target_to_date - missing_target
            else rate_target_to_date
        end as paced_target,
        case
            when formula_kind = 'sum' then scale * numerator_to_date
            when denominator_to_date <> 0 then scale * numerator_to_date / denominator_to_date
        end as actual,
        case
            when formula_kind = 'sum' then scale * observed_numerator_to_date
            when observed_denominator_to_date <> 0
                then scale * observed_numerator_to_date / observed_denominator_to_date
        end as observed_actual,
        case
            when formula_kind = 'sum' and target_period_sum <> 0
                then target_to_date / target_period_sum
            else cast(days_elapsed as {{ kpi_double() }}) / (days_elapsed + days_left_in_plan)
        end as elapsed_share,
        -- the share of the period's plan the days with the source cover
        case
            when target_period_sum <> 0 then (target_to_date - missing_target) / target_period_sum
        end as covered_share
    from as_of_plan
    where as_of_day <= as_of_date
),

paced as (
    select
        *,
        case
            when direction = 'lower' then case when actual <> 0 then paced_target / actual end
            when paced_target <> 0 then actual / paced_target
        end as attainment,
        case
            when formula_kind = 'sum'
                then case when covered_share > 0 then actual / covered_share end
            else actual
        end as projected
    from valued
),

judged as (
    select
        as_of_day,
        period_grain,
        period_start,
        period_end,
        kpi_id,
        team,
        direction,
        scope,
        dimension,
        member,
        version_id,
        target,
        paced_target,
        actual,
        numerator_to_date as numerator,
        denominator_to_date as denominator,
        elapsed_share,
        attainment,
        actual - paced_target as gap,
        case when paced_target <> 0 then (actual - paced_target) / paced_target end as gap_pct,
        projected,
        case
            when direction = 'lower' then case when projected <> 0 then target / projected end
            when target <> 0 then projected / target
        end as projected_attainment,
        case
            when attainment is null then null
            -- a provisional day without an expected value (no pattern yet) is only what has
            -- arrived so far: a partial observation, not judged until it has one or matures
            when observed_only_days > 0 then 'not_judged'
            when attainment >= {{ var('pace_on_track') }} then 'on_track'
            when attainment >= {{ var('pace_at_risk') }} then 'at_risk'
            else 'short'
        end as status,
        -- the missing days counted as on plan: what the rest must bring
        case when formula_kind = 'sum' then target - missing_target - actual end
            as needed_remaining,
        -- what the version in force planned for the days left (none on the last day)
        case when formula_kind = 'sum' then planned_rest end as planned_remaining,
        case
            when formula_kind = 'sum' and days_left_in_plan > 0 and planned_rest > 0
                then (target - missing_target - actual) / planned_rest
        end as catch_up_factor,
        days_elapsed,
        days_left_in_plan as days_left,
        days_with_data,
        provisional_days > 0 as is_provisional,
        missing_days,
        day_missing,
        -- the actual is the expected final value of its provisional days; observed_actual is
        -- what has arrived so far
        observed_actual,
        provisional_days > 0 and observed_only_days = 0 as is_expected,
        (
            period_grain = 'month'
            and {{ dbt.datediff('period_start', 'as_of_day', 'day') }} + 1 = {{ var('mid_month_day') }}
        ) as is_mid_month_check,
        as_of_date
    from paced
),

-- which sources the incomplete rows miss to date (few rows: a gap is rare)
incomplete as (
    select distinct period_grain, period_start, as_of_day, kpi_id
    from judged
    where missing_days > 0
),

incomplete_source_rows as (
    select distinct
        incomplete.period_grain,
        incomplete.period_start,
        incomplete.as_of_day,
        incomplete.kpi_id,
        source_gaps.source
    from incomplete
    inner join source_gaps
        on incomplete.kpi_id = source_gaps.kpi_id
        and source_gaps.date_day between incomplete.period_start and incomplete.as_of_day
),

incomplete_sources as (
    select
        period_grain,
        period_start,
        as_of_day,
        kpi_id,
        {{ dbt.listagg('source', "','", 'order by source') }} as gap_sources
    from incomplete_source_rows
    group by 1, 2, 3, 4
),

final as (
    select
        judged.*,
        incomplete_sources.gap_sources
    from judged
    left join incomplete_sources
        on judged.period_grain = incomplete_sources.period_grain
        and judged.period_start = incomplete_sources.period_start
        and judged.as_of_day = incomplete_sources.as_of_day
        and judged.kpi_id = incomplete_sources.kpi_id
)

select * from final
