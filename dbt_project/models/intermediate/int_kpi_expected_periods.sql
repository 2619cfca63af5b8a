{#
  fct_kpi_expected's second step: each provisional period's expected value of every measure
  (int_kpi_expected_parts summed over the period's days) at every grain, one column per
  measure (m_<measure>), and whether it is unknown (u_<measure> = 1: one of its days' parts
  is, for want of a pattern).
#}
{{ kpi_step() }}
{%- set used = kpi_expected_plan()['used'] %}

with

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
    from {{ ref('int_kpi_expected_parts') }}
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
        max(case when measure_id = '{{ m }}' and is_unknown then 1 else 0 end) as u_{{ m }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from periods
    group by 1, 2, 3, 4
)

select * from wide
