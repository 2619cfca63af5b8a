{#
  fct_kpi_expected's first step (its header says the method): each provisional day's parts of
  every measure the expected values are built of, for the total and each member of the
  measure's dimensions: the day's observed value and, for a measure of a fact that matures,
  what its exposure (the day's GMV, its orders) is still expected to add, exposure x
  (ratio_final - ratio_at_age) of fct_completion_factors' pattern. A member whose mature
  cohorts are too few takes the total's pattern; without a pattern the part is unknown (null).
#}
{{ kpi_step() }}
{%- set tree = kpi_tree() -%}
{%- set maturity = tree['maturity_days'] -%}
{%- set plan = kpi_expected_plan() -%}
{%- set used = plan['used'] -%}
{%- set dims_of = plan['dims_of'] -%}
{%- set read = plan['read'] %}

with

as_of as (
    select {{ kpi_as_of_date('date_day') }} as as_of_date from {{ ref('fct_base_measures') }}
),

-- the provisional periods start at the week or month of the first provisional day
bounds as (
    select
        as_of_date,
        least(
            {{ kpi_period_start('week', dbt.dateadd('day', 1 - maturity, 'as_of_date')) }},
            {{ kpi_period_start('month', dbt.dateadd('day', 1 - maturity, 'as_of_date')) }}
        ) as first_day
    from as_of
),

base as (
    select
        base.date_day,
        base.dimension,
        base.member,
        base.measure_id,
        cast(base.value as {{ kpi_double() }}) as value,
        {{ dbt.datediff('base.date_day', 'bounds.as_of_date', 'day') }} as age
    from {{ ref('fct_base_measures') }} as base
    cross join bounds
    where base.date_day between bounds.first_day and bounds.as_of_date
        and base.measure_id in {{ kpi_member_list(read) }}
),

pattern as (
    select
        dimension, member, measure_id, age, uses_total,
        ratio_final - ratio_at_age as remaining
    from {{ ref('fct_completion_factors') }}
),

-- what each day's parts read: a measure's own value per dimension, and the measure whose
-- exposure it develops on (none for a measure of a fact that does not mature)
{%- set plan = [] %}
{%- for m in used %}
{%- for d in dims_of[m] %}
{%- do plan.append((m, d, tree['measures'][m]['exposure'])) %}
{%- endfor %}
{%- endfor %}
plan as (
    {%- for m, d, exposure in plan %}
    select
        '{{ m }}' as measure_id,
        '{{ d }}' as dimension,
        {{ "'" ~ exposure ~ "'" if exposure else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as exposure_id
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

-- a day's parts: its observed value, and what its exposure is still expected to add (each
-- read once for every measure)
parts as (
    -- a measure that matures sums nothing yet on a day none of its rows has arrived: 0 so far
    select
        base.date_day,
        base.dimension,
        base.member,
        plan.measure_id,
        case when plan.exposure_id is null then base.value else coalesce(base.value, 0) end as part
    from base
    inner join plan
        on base.measure_id = plan.measure_id
        and base.dimension = plan.dimension
    union all
    select
        exposure.date_day,
        exposure.dimension,
        exposure.member,
        plan.measure_id,
        case
            when exposure.age >= {{ maturity }} then 0
            when own.remaining is not null and not own.uses_total
                then exposure.value * own.remaining
            else exposure.value * overall.remaining
        end as part
    from base as exposure
    inner join plan
        on exposure.measure_id = plan.exposure_id
        and exposure.dimension = plan.dimension
    left join pattern as own
        on plan.measure_id = own.measure_id
        and exposure.dimension = own.dimension
        and exposure.member = own.member
        and exposure.age = own.age
    left join pattern as overall
        on plan.measure_id = overall.measure_id
        and overall.dimension = 'total'
        and exposure.age = overall.age
)

select * from parts
