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
  A dimension the exposure does not have (a carrier) gets no expected value. The days' parts
  and the periods' sums are steps of their own (int_kpi_expected_parts, _periods;
  macros/kpi/expected.sql says why).
#}
{%- set tree = kpi_tree() -%}
{%- set maturity = tree['maturity_days'] -%}
{%- set plan = kpi_expected_plan() -%}
{%- set nodes = plan['nodes'] -%}
{%- set dims_of = plan['dims_of'] %}

with

as_of as (
    select {{ kpi_as_of_date('date_day') }} as as_of_date from {{ ref('fct_base_measures') }}
),

bounds as (
    select
        as_of_date,
        {{ dbt.dateadd('day', -1 * maturity, 'as_of_date') }} as mature_until
    from as_of
),

-- each provisional period's expected measures, built in two steps (each day's parts, then
-- the periods' sums), each KPI below reading them
wide as (
    select * from {{ ref('int_kpi_expected_periods') }}
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
    where dimension in {{ kpi_member_list(dims) }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

scales as (
    {%- for node in nodes %}
    select
        '{{ node['id'] }}' as kpi_id,
        '{{ node['kind'] }}' as kind,
        cast({{ node['scale'] }} as {{ kpi_double() }}) as scale
    {{ 'union all' if not loop.last }}
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
                then scales.scale * expected_nodes.expected_numerator / expected_nodes.expected_denominator
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
