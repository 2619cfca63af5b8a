{#
  Every KPI of the tree at every grain (day, ISO week, month), for the total and for each
  of the node's dimensions: numerator, denominator and value. Generated from
  kpi_tree/tree.yaml: a sum node is Σmeasure, a ratio node scale × Σnumerator / Σdenominator
  over the period's days (never an average of daily ratios), a quantile node is computed from
  the fact rows of the period. Rows of nodes that depend on late-maturing facts are
  provisional while their period ends within maturity_days of the newest day; rows outside
  a run's window are cleared by the post-hook once they mature.

  A KPI the shop cannot compute (a source it reads was never delivered: fct_kpi_availability)
  has one total row a period, with no numbers and the sources it misses, never a 0.
#}
{%- set tree = kpi_tree() -%}
{%- set lookback = tree['maturity_days'] -%}
{{ kpi_incremental_by_period('this') }}

{%- set used = [] -%}
{%- for node in tree['nodes'] if node['kind'] != 'quantile' -%}
    {%- for m in [node['numerator'], node['denominator']] if m and m not in used -%}
        {%- do used.append(m) -%}
    {%- endfor -%}
{%- endfor %}

with

base as (
    select * from {{ ref('fct_base_measures') }}
    where {{ kpi_days_for_window_periods('date_day', lookback) }}
),

as_of as (
    select {{ kpi_as_of_date('date_day') }} as as_of_date from {{ ref('fct_base_measures') }}
),

periods as (
{%- for grain in kpi_grains() %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'date_day') }} as period_start,
        dimension,
        member,
        measure_id,
        sum(value) as value
    from base
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
        sum(case when measure_id = '{{ m }}' then value end) as m_{{ m }}{{ ',' if not loop.last }}
        {%- endfor %}
    from periods
    group by 1, 2, 3, 4
),

additive_nodes as (
{%- set additive = tree['nodes'] | rejectattr('kind', 'equalto', 'quantile') | list %}
{%- for node in additive %}
    {%- set num = 'm_' ~ node['numerator'] %}
    {%- set den = ('m_' ~ node['denominator']) if node['denominator'] else none %}
    select
        grain,
        period_start,
        '{{ node['id'] }}' as kpi_id,
        dimension,
        member,
        cast(coalesce({{ num }}, 0) as {{ kpi_double() }}) as numerator,
        {{ 'cast(coalesce(' ~ den ~ ', 0) as ' ~ kpi_double() ~ ')' if den else 'cast(null as ' ~ kpi_double() ~ ')' }} as denominator,
        {%- if node['kind'] == 'sum' %}
        {{ node['scale'] }} * cast(coalesce({{ num }}, 0) as {{ kpi_double() }}) as value
        {%- else %}
        case when {{ den }} <> 0 then {{ node['scale'] }} * cast(coalesce({{ num }}, 0) as {{ kpi_double() }}) / cast({{ den }} as {{ kpi_double() }}) end as value
        {%- endif %}
    from wide
    where dimension in ('total'{% for d in node['dimensions'] %}, '{{ d }}'{% endfor %})
      and ({{ num }} is not null{% if den %} or {{ den }} is not null{% endif %})
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

{%- set quantiles = tree['nodes'] | selectattr('kind', 'equalto', 'quantile') | list %}
{%- set branches = [] -%}
{%- for node in quantiles -%}
    {%- for grain in kpi_grains() -%}
        {%- for dim in ['total'] + node['dimensions'] -%}
            {%- do branches.append((node, grain, dim)) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endfor %}
{%- if branches | length == 0 %}
quantile_nodes as (
    select
        cast(null as {{ dbt.type_string() }}) as grain, cast(null as date) as period_start,
        cast(null as {{ dbt.type_string() }}) as kpi_id, cast(null as {{ dbt.type_string() }}) as dimension,
        cast(null as {{ dbt.type_string() }}) as member, cast(null as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator, cast(null as {{ kpi_double() }}) as value
    where 1 = 0
),
{%- else %}
{#-
  A percentile is read off the period's histogram: each distinct value with its count, ranked
  with window functions. It is exact, with percentile_cont's interpolation: between the values
  at positions floor(h) and ceil(h) of the sorted rows, h = (n - 1) × q. A percentile aggregate
  holds every row of its group in memory and cannot spill to disk (a large shop's year does
  not fit); a histogram has one row per distinct value, and the window sorts spill.
#}
quantile_histogram as (
{%- for node, grain, dim in branches %}
    {%- set fact = tree['facts'][node['quantile_fact']] %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, fact['date']) }} as period_start,
        '{{ node['id'] }}' as kpi_id,
        '{{ dim }}' as dimension,
        {{ "'(all)'" if dim == 'total' else 'coalesce(cast(' ~ fact['dimensions'][dim] ~ ' as ' ~ dbt.type_string() ~ "), '(none)')" }} as member,
        cast({{ node['quantile'] }} as {{ kpi_double() }}) as q,
        cast({{ node['quantile_of'] }} as {{ kpi_double() }}) as x,
        count(*) as c
    from {{ ref(fact['model']) }}
    where {{ node['quantile_of'] }} is not null
      and {{ kpi_days_for_window_periods(fact['date'], lookback) }}
    group by 1, 2, 3, 4, 5, 6, 7
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

{%- set quantile_key = 'grain, period_start, kpi_id, dimension, member' %}
quantile_ranked as (
    select
        {{ quantile_key }},
        x,
        c,
        sum(c) over (
            partition by {{ quantile_key }}
            order by x rows between unbounded preceding and current row
        ) - c as rows_below,
        (sum(c) over (partition by {{ quantile_key }}) - 1) * q as h
    from quantile_histogram
),

quantile_bounds as (
    select
        {{ quantile_key }},
        sum(c) as n,
        max(h) as h,
        max(case when rows_below <= floor(h) and floor(h) < rows_below + c then x end) as x_low,
        max(case when rows_below <= ceil(h) and ceil(h) < rows_below + c then x end) as x_high
    from quantile_ranked
    group by 1, 2, 3, 4, 5
),

quantile_nodes as (
    select
        {{ quantile_key }},
        cast(n as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator,
        x_low + (h - floor(h)) * (x_high - x_low) as value
    from quantile_bounds
),
{%- endif %}

availability as (
    select kpi_id, is_available, missing_sources from {{ ref('fct_kpi_availability') }}
),

-- the KPIs the shop cannot compute: a total row for every period, with no numbers
unavailable_nodes as (
    select
        computed_periods.grain,
        computed_periods.period_start,
        availability.kpi_id,
        cast('total' as {{ dbt.type_string() }}) as dimension,
        cast('(all)' as {{ dbt.type_string() }}) as member,
        cast(null as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator,
        cast(null as {{ kpi_double() }}) as value
    from (select distinct grain, period_start from periods) as computed_periods
    cross join availability
    where not availability.is_available
),

nodes as (
    select * from (
        select * from additive_nodes
        union all
        select * from quantile_nodes
    ) as computed
    where kpi_id in (select kpi_id from availability where is_available)
    union all
    select * from unavailable_nodes
),

late_nodes as (
    {%- for node in tree['nodes'] %}
    select '{{ node['id'] }}' as kpi_id, {{ 'true' if node['matures'] else 'false' }} as matures_late
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

final as (
    select
        nodes.grain,
        nodes.period_start,
        case nodes.grain
            {%- for grain in kpi_grains() %}
            when '{{ grain }}' then {{ kpi_period_end(grain, 'nodes.period_start') }}
            {%- endfor %}
        end as period_end,
        nodes.kpi_id,
        nodes.dimension,
        nodes.member,
        nodes.numerator,
        nodes.denominator,
        nodes.value,
        late_nodes.matures_late
            and case nodes.grain
                {%- for grain in kpi_grains() %}
                when '{{ grain }}' then {{ kpi_period_end(grain, 'nodes.period_start') }}
                {%- endfor %}
            end > {{ dbt.dateadd('day', -1 * lookback, 'as_of.as_of_date') }}
            and availability.is_available
            as is_provisional,
        as_of.as_of_date,
        availability.missing_sources,
        -- beside the observed value, what it is expected to reach (issue 41, part 1)
        expected.expected_value,
        expected.expected_numerator,
        expected.expected_denominator,
        expected.basis_first_cohort as expected_basis_first_cohort,
        expected.basis_last_cohort as expected_basis_last_cohort,
        expected.basis_cohorts as expected_basis_cohorts,
        expected.youngest_age as expected_youngest_age
    from nodes
    inner join late_nodes on nodes.kpi_id = late_nodes.kpi_id
    inner join availability on nodes.kpi_id = availability.kpi_id
    cross join as_of
    left join {{ ref('fct_kpi_expected') }} as expected
        on expected.grain = nodes.grain
        and expected.period_start = nodes.period_start
        and expected.kpi_id = nodes.kpi_id
        and expected.dimension = nodes.dimension
        and expected.member = nodes.member
        and availability.is_available
    where {{ kpi_periods_in_window('nodes.grain', 'nodes.period_start', lookback) }}
)

select * from final
