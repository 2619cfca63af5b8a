{#
  How the measures of facts that mature (shipment outcomes) develop with the age of their
  cohort, from the mature cohorts: per measure, dimension, member and age (0 to
  maturity_days), what the newest `basis_days` mature cohorts had developed by that age and
  what they reached at maturity, each per unit of their exposure (kpi_tree/tree.yaml: GMV for
  amounts, orders for counts). The chain ladder's development pattern (Mack 1993) read as
  ratios to exposure; fct_kpi_values draws each young cohort's expected final value from it
  the Bornhuetter-Ferguson way (1972): observed + exposure x (ratio_final - ratio_at_age).

  The development is summed from each basis cohort's (the fact's `development` model, kept
  by cohort: int_shipment_development), so that a cohort's value at age a is what it had
  reached by the end of its a-th day, and a night adds the cohort that matured rather than
  reading every state of the basis window again. A member (channel, campaign, payment
  method) whose mature cohorts hold fewer than `min_member_rows` rows takes the total's
  pattern (`uses_total`); a dimension the exposure's fact does not have (a carrier) has none.

  Cohorts of the Spring Festival's window (tree.yaml `completion.exclude_festival`) develop
  days late while carriers close; left in, they would make every ordinary cohort look
  slower than it is, so they are left out of the pattern (`excluded_cohorts` counts them).
#}
{%- set tree = kpi_tree() -%}
{%- set maturity = tree['maturity_days'] -%}
{%- set basis_days = tree['completion']['basis_days'] -%}
{%- set min_rows = tree['completion']['min_member_rows'] -%}
{#- the cohorts the pattern keeps: a condition on the column named `@day` -#}
{%- set kept = namespace(sql='') -%}
{%- for first, last in tree['completion']['excluded'] -%}
{%- set kept.sql = kept.sql ~ "\n        and @day not between cast('" ~ first ~ "' as date) and cast('" ~ last ~ "' as date)" -%}
{%- endfor -%}
{%- set maturing = [] -%}
{%- for fact_id, fact in tree['facts'].items() if fact['matures'] -%}
{%- do maturing.append((fact_id, fact)) -%}
{%- endfor %}

with

as_of as (
    select
        max(date_day) as as_of_date,
        {{ dbt.dateadd('day', -1 * (maturity + basis_days - 1), 'max(date_day)') }} as basis_first,
        {{ dbt.dateadd('day', -1 * maturity, 'max(date_day)') }} as basis_last
    from {{ ref('fct_base_measures') }}
),

ages as (
    {%- for age in range(maturity + 1) %}
    select {{ age }} as age
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

{%- set branches = [] %}
{%- for fact_id, fact in maturing %}
{%- set measures = [] -%}
{%- for measure_id, measure in tree['measures'].items() if measure['fact'] == fact_id -%}
{%- do measures.append((measure_id, measure)) -%}
{%- endfor %}

-- the development of the basis cohorts (each fact's development model, kept by cohort)
{{ fact_id }}_basis as (
    select development.*
    from {{ ref(fact['development']) }} as development
    cross join as_of
    where development.cohort_date between as_of.basis_first and as_of.basis_last
        {{- kept.sql | replace('@day', 'development.cohort_date') }}
),

{%- for measure_id, measure in measures %}
{%- set exposure = tree['measures'][measure['exposure']] %}
{%- set exposure_dims = tree['facts'][exposure['fact']]['dimensions'] %}
{%- for dim in ['total'] + (fact['dimensions'].keys() | list) if dim == 'total' or dim in exposure_dims %}
{%- do branches.append((fact_id, measure_id, measure['exposure'], dim)) %}
{%- endfor %}
{%- endfor %}

{{ fact_id }}_rows as (
    select
        dimension,
        member,
        sum(row_count) as basis_rows
    from {{ fact_id }}_basis
    where measure_id is null
    group by 1, 2
),
{%- endfor %}

-- what the basis cohorts developed at each age, per dimension, member and measure
developed as (
    {%- for fact_id, fact in maturing %}
    select
        dimension,
        member,
        measure_id,
        age,
        sum(change) as change
    from {{ fact_id }}_basis
    where measure_id is not null
    group by 1, 2, 3, 4
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

-- each measure's exposure, per dimension the exposure has
branch_exposures as (
    {%- for fact_id, measure_id, exposure_id, dim in branches %}
    select
        '{{ measure_id }}' as measure_id,
        '{{ exposure_id }}' as exposure_id,
        '{{ dim }}' as dimension
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

-- the exposure of the basis cohorts (their GMV, their orders), per member
exposure as (
    select
        base.dimension,
        base.member,
        measures.measure_id,
        sum(base.value) as exposure,
        count(distinct base.date_day) as basis_cohorts,
        min(base.date_day) as first_cohort,
        max(base.date_day) as last_cohort
    from {{ ref('fct_base_measures') }} as base
    cross join as_of
    inner join branch_exposures as measures
        on base.measure_id = measures.exposure_id and base.dimension = measures.dimension
    where base.date_day between as_of.basis_first and as_of.basis_last
        and base.value > 0
        {{- kept.sql | replace('@day', 'base.date_day') }}
    group by 1, 2, 3
),

-- the days of the basis window left out of the pattern
excluded as (
    select count(distinct base.date_day) as excluded_cohorts
    from {{ ref('fct_base_measures') }} as base
    cross join as_of
    where base.date_day between as_of.basis_first and as_of.basis_last
        and base.dimension = 'total'
        and not (1 = 1 {{- kept.sql | replace('@day', 'base.date_day') }})
),

cumulative as (
    select
        exposure.dimension,
        exposure.member,
        exposure.measure_id,
        ages.age,
        exposure.exposure,
        exposure.basis_cohorts,
        exposure.first_cohort,
        exposure.last_cohort,
        coalesce(sum(developed.change), 0) as developed
    from exposure
    cross join ages
    left join developed
        on exposure.dimension = developed.dimension
        and exposure.member = developed.member
        and exposure.measure_id = developed.measure_id
        and ages.age >= developed.age
    group by 1, 2, 3, 4, 5, 6, 7, 8
),

-- each age beside what the same cohorts had developed at maturity (the row of age
-- maturity_days, read in the same pass)
developing as (
    select
        cumulative.*,
        max(case when cumulative.age = {{ maturity }} then cumulative.developed end) over (
            partition by cumulative.dimension, cumulative.member, cumulative.measure_id
        ) as final_developed
    from cumulative
),

rows_per_member as (
    {%- for fact_id, fact in maturing %}
    select * from {{ fact_id }}_rows
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

final as (
    select
        cumulative.dimension,
        cumulative.member,
        cumulative.measure_id,
        cumulative.age,
        cumulative.basis_cohorts,
        cumulative.first_cohort,
        cumulative.last_cohort,
        coalesce(rows_per_member.basis_rows, 0) as basis_rows,
        (
            cumulative.dimension <> 'total'
            and coalesce(rows_per_member.basis_rows, 0) < {{ min_rows }}
        ) as uses_total,
        cast(cumulative.exposure as {{ kpi_double() }}) as exposure,
        cast(cumulative.developed as {{ kpi_double() }}) as developed,
        cast(cumulative.final_developed as {{ kpi_double() }}) as final_value,
        (
            cast(cumulative.developed as {{ kpi_double() }})
            / cast(cumulative.exposure as {{ kpi_double() }})
        ) as ratio_at_age,
        (
            cast(cumulative.final_developed as {{ kpi_double() }})
            / cast(cumulative.exposure as {{ kpi_double() }})
        ) as ratio_final,
        case
            when cumulative.final_developed <> 0
                then cast(cumulative.developed as {{ kpi_double() }})
                    / cast(cumulative.final_developed as {{ kpi_double() }})
        end as completion,
        -- the chain ladder's age-to-ultimate factor (volume-weighted); none while nothing
        -- has developed
        case
            when cumulative.developed <> 0
                then cast(cumulative.final_developed as {{ kpi_double() }})
                    / cast(cumulative.developed as {{ kpi_double() }})
        end as age_to_ultimate,
        excluded.excluded_cohorts,
        as_of.as_of_date
    from developing as cumulative
    left join rows_per_member
        on cumulative.dimension = rows_per_member.dimension
        and cumulative.member = rows_per_member.member
    cross join as_of
    cross join excluded
)

select * from final
