{#
  The expected final value of every KPI built on facts that mature (shipment outcomes), for
  each period still provisional (its end within maturity_days of the as-of day) at every
  grain, total and per member: numerator, denominator and value as they are expected to be
  once every outcome has arrived, and the basis (the pattern's cohorts, the youngest day's
  age). fct_kpi_values publishes them beside the observed value.

  A day's measure of a fact that matures is expected to reach its observed value plus its
  exposure (the day's GMV, its orders) times what the pattern still adds from the day's age
  to maturity (fct_completion_factors: ratio_final - ratio_at_age): the Bornhuetter-Ferguson
  estimate with the chain ladder's pattern (docs/kpi-tree.md, "Outcomes that arrive late").
  A member whose mature cohorts are too few takes the total's pattern; without a pattern (no
  mature cohorts yet) a young day's value is unknown (null), never its observed part alone.
  A dimension the exposure does not have (a carrier) gets no expected value.
#}
{%- set tree = kpi_tree() -%}
{%- set maturity = tree['maturity_days'] -%}
{%- set text = dbt.type_string() -%}
{%- set nodes = tree['nodes'] | selectattr('matures') | rejectattr('kind', 'equalto', 'quantile') | list -%}
{%- set used = [] -%}
{%- for node in nodes -%}
    {%- for m in [node['numerator'], node['denominator']] if m and m not in used -%}
        {%- do used.append(m) -%}
    {%- endfor -%}
{%- endfor -%}
{#- the dimensions each measure has an expected value for -#}
{%- set dims_of = {} -%}
{%- for m in used -%}
    {%- set measure = tree['measures'][m] -%}
    {%- set fact_dims = tree['facts'][measure['fact']]['dimensions'] | list -%}
    {%- if measure['exposure'] -%}
        {%- set exposure_dims = tree['facts'][tree['measures'][measure['exposure']]['fact']]['dimensions'] -%}
        {%- do dims_of.update({m: ['total'] + (fact_dims | select('in', exposure_dims) | list)}) -%}
    {%- else -%}
        {%- do dims_of.update({m: ['total'] + fact_dims}) -%}
    {%- endif -%}
{%- endfor -%}
{%- set read = used[:] -%}
{%- for m in used if tree['measures'][m]['exposure'] and tree['measures'][m]['exposure'] not in read -%}
    {%- do read.append(tree['measures'][m]['exposure']) -%}
{%- endfor %}

with

as_of as (
    select {{ kpi_as_of_date('date_day') }} as as_of_date from {{ ref('fct_base_measures') }}
),

-- the provisional periods start at the week or month of the first provisional day
bounds as (
    select
        as_of_date,
        {{ dbt.dateadd('day', -1 * maturity, 'as_of_date') }} as mature_until,
        case
            when {{ kpi_period_start('week', dbt.dateadd('day', 1 - maturity, 'as_of_date')) }}
                < {{ kpi_period_start('month', dbt.dateadd('day', 1 - maturity, 'as_of_date')) }}
            then {{ kpi_period_start('week', dbt.dateadd('day', 1 - maturity, 'as_of_date')) }}
            else {{ kpi_period_start('month', dbt.dateadd('day', 1 - maturity, 'as_of_date')) }}
        end as first_day
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
      and base.measure_id in ({% for m in read %}'{{ m }}'{{ ', ' if not loop.last }}{% endfor %})
),

pattern as (
    select
        dimension, member, measure_id, age, uses_total,
        ratio_final - ratio_at_age as remaining
    from {{ ref('fct_completion_factors') }}
),

-- a day's parts: its observed value, and what its exposure is still expected to add
parts as (
{%- for m in used %}
{%- set measure = tree['measures'][m] %}
    -- a measure that matures sums nothing yet on a day none of its rows has arrived: 0 so far
    select date_day, dimension, member, '{{ m }}' as measure_id,
        {{ 'coalesce(value, 0)' if measure['exposure'] else 'value' }} as part
    from base
    where measure_id = '{{ m }}'
      and dimension in ({% for d in dims_of[m] %}'{{ d }}'{{ ', ' if not loop.last }}{% endfor %})
    {%- if measure['exposure'] %}
    union all
    select
        exposure.date_day,
        exposure.dimension,
        exposure.member,
        '{{ m }}' as measure_id,
        case
            when exposure.age >= {{ maturity }} then 0
            else exposure.value * case
                when own.remaining is not null and not own.uses_total then own.remaining
                else overall.remaining
            end
        end as part
    from base as exposure
    left join pattern as own
        on own.measure_id = '{{ m }}'
        and own.dimension = exposure.dimension
        and own.member = exposure.member
        and own.age = exposure.age
    left join pattern as overall
        on overall.measure_id = '{{ m }}'
        and overall.dimension = 'total'
        and overall.age = exposure.age
    where exposure.measure_id = '{{ measure['exposure'] }}'
      and exposure.dimension in ({% for d in dims_of[m] %}'{{ d }}'{{ ', ' if not loop.last }}{% endfor %})
    {%- endif %}
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

-- a period's expected measure; unknown when any of its parts is
periods as (
{%- for grain in kpi_grains() %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'date_day') }} as period_start,
        dimension,
        member,
        measure_id,
        sum(part) as value,
        count(*) > count(part) as is_unknown
    from parts
    group by 1, 2, 3, 4, 5
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

wide as (
    select
        grain,
        period_start,
        dimension,
        member,
        {%- for m in used %}
        sum(case when measure_id = '{{ m }}' then value end) as m_{{ m }},
        max(case when measure_id = '{{ m }}' and is_unknown then 1 else 0 end) as u_{{ m }}{{ ',' if not loop.last }}
        {%- endfor %}
    from periods
    group by 1, 2, 3, 4
),

expected_nodes as (
{%- for node in nodes %}
    {%- set num = node['numerator'] %}
    {%- set den = node['denominator'] %}
    {%- set dims = ['total'] + node['dimensions'] | select('in', dims_of[num]) | select('in', dims_of[den] if den else dims_of[num]) | list %}
    {%- set first_maturing = (num if tree['measures'][num]['exposure'] else den) %}
    select
        grain,
        period_start,
        '{{ node['id'] }}' as kpi_id,
        '{{ first_maturing }}' as basis_measure,
        dimension,
        member,
        case when u_{{ num }} = 0 then coalesce(m_{{ num }}, 0) end as expected_numerator,
        {%- if den %}
        case when u_{{ den }} = 0 then coalesce(m_{{ den }}, 0) end as expected_denominator
        {%- else %}
        cast(null as {{ kpi_double() }}) as expected_denominator
        {%- endif %}
    from wide
    where dimension in ({% for d in dims %}'{{ d }}'{{ ', ' if not loop.last }}{% endfor %})
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

scales as (
{%- for node in nodes %}
    select '{{ node['id'] }}' as kpi_id, '{{ node['kind'] }}' as kind,
        cast({{ node['scale'] }} as {{ kpi_double() }}) as scale{{ ' union all' if not loop.last }}
{%- endfor %}
),

-- the pattern's cohorts, as the total's pattern of the KPI's first maturing measure has them
basis as (
    select measure_id, first_cohort, last_cohort, basis_cohorts, excluded_cohorts
    from {{ ref('fct_completion_factors') }}
    where dimension = 'total' and age = 0
),

final as (
    select
        expected_nodes.grain,
        expected_nodes.period_start,
        expected_nodes.kpi_id,
        expected_nodes.dimension,
        expected_nodes.member,
        expected_nodes.expected_numerator,
        expected_nodes.expected_denominator,
        case
            when scales.kind = 'sum' then scales.scale * expected_nodes.expected_numerator
            when expected_nodes.expected_denominator <> 0
            then scales.scale * expected_nodes.expected_numerator
                / expected_nodes.expected_denominator
        end as expected_value,
        basis.first_cohort as basis_first_cohort,
        basis.last_cohort as basis_last_cohort,
        basis.basis_cohorts,
        basis.excluded_cohorts as basis_excluded_cohorts,
        -- the age of the period's youngest day: how far its outcomes have come
        {{ dbt.datediff(
            'case when period_end < bounds.as_of_date then period_end else bounds.as_of_date end',
            'bounds.as_of_date', 'day') }} as youngest_age,
        bounds.as_of_date
    from (
        select
            expected_nodes.*,
            case expected_nodes.grain
                {%- for grain in kpi_grains() %}
                when '{{ grain }}' then {{ kpi_period_end(grain, 'expected_nodes.period_start') }}
                {%- endfor %}
            end as period_end
        from expected_nodes
    ) as expected_nodes
    inner join scales on expected_nodes.kpi_id = scales.kpi_id
    left join basis on expected_nodes.basis_measure = basis.measure_id
    cross join bounds
    where expected_nodes.period_end > bounds.mature_until
)

select * from final
