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


with

base as (
    select * from {{ ref('fct_base_measures') }}
    where {{ kpi_days_for_window_periods('date_day', lookback) }}
),

as_of as (
    select {{ kpi_as_of_date('date_day') }} as as_of_date from {{ ref('fct_base_measures') }}
),

-- a KPI's day on which a source it reads is missing (fct_source_gaps): its value that day is
-- unknown, and its weeks and months are computed over the other days and flagged
gaps as (
    select kpi_id, date_day, source from {{ ref('fct_source_gaps') }}
    where {{ kpi_days_for_window_periods('date_day', lookback) }}
),

gap_days as (
    select distinct kpi_id, date_day from gaps
),

-- what each additive node sums: its numerator and denominator measures
node_measures as (
{%- set additive = tree['nodes'] | rejectattr('kind', 'equalto', 'quantile') | list %}
{%- set roles = [] -%}
{%- for node in additive -%}
    {%- do roles.append((node, node['numerator'], 'num')) -%}
    {%- if node['denominator'] %}{% do roles.append((node, node['denominator'], 'den')) %}{% endif -%}
{%- endfor %}
{%- for node, measure_id, role in roles %}
    select '{{ node['id'] }}' as kpi_id, '{{ measure_id }}' as measure_id, '{{ role }}' as role
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

node_days as (
    select
        node_measures.kpi_id,
        base.date_day,
        base.dimension,
        base.member,
        sum(case when node_measures.role = 'num' then base.value end) as num,
        sum(case when node_measures.role = 'den' then base.value end) as den
    from base
    inner join node_measures on base.measure_id = node_measures.measure_id
    left join gap_days
        on gap_days.kpi_id = node_measures.kpi_id and gap_days.date_day = base.date_day
    where gap_days.kpi_id is null
    group by 1, 2, 3, 4
),

periods as (
{%- for grain in kpi_grains() %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'date_day') }} as period_start,
        kpi_id,
        dimension,
        member,
        sum(num) as num,
        sum(den) as den
    from node_days
    group by 1, 2, 3, 4, 5
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

node_rules as (
{%- for node in additive %}
    select
        '{{ node['id'] }}' as kpi_id,
        {{ 'true' if node['kind'] == 'sum' else 'false' }} as is_sum,
        {{ 'true' if node['denominator'] else 'false' }} as has_den,
        cast({{ node['scale'] }} as {{ kpi_double() }}) as scale
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

node_dimensions as (
{%- for node in additive %}
    {%- for dim in ['total'] + node['dimensions'] %}
    select '{{ node['id'] }}' as kpi_id, '{{ dim }}' as dimension
    union all
    {%- endfor %}
{%- endfor %}
    select cast(null as {{ dbt.type_string() }}) as kpi_id, cast(null as {{ dbt.type_string() }}) as dimension
    where 1 = 0
),

additive_nodes as (
    select
        periods.grain,
        periods.period_start,
        periods.kpi_id,
        periods.dimension,
        periods.member,
        cast(coalesce(periods.num, 0) as {{ kpi_double() }}) as numerator,
        case when node_rules.has_den
            then cast(coalesce(periods.den, 0) as {{ kpi_double() }}) end as denominator,
        case
            when node_rules.is_sum
                then node_rules.scale * cast(coalesce(periods.num, 0) as {{ kpi_double() }})
            when periods.den <> 0
                then node_rules.scale * cast(coalesce(periods.num, 0) as {{ kpi_double() }})
                    / cast(periods.den as {{ kpi_double() }})
        end as value
    from periods
    inner join node_rules on periods.kpi_id = node_rules.kpi_id
    inner join node_dimensions
        on periods.kpi_id = node_dimensions.kpi_id and periods.dimension = node_dimensions.dimension
    where (periods.num is not null or (node_rules.has_den and periods.den is not null))
),

-- the days a source of the KPI is missing: a total row with no numbers
gap_nodes as (
    select
        cast('day' as {{ dbt.type_string() }}) as grain,
        date_day as period_start,
        kpi_id,
        cast('total' as {{ dbt.type_string() }}) as dimension,
        cast('(all)' as {{ dbt.type_string() }}) as member,
        cast(null as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator,
        cast(null as {{ kpi_double() }}) as value
    from gap_days
),

-- per KPI and period: how many of its days miss a source, and which sources
period_gaps as (
{%- for grain in kpi_grains() %}
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'date_day') }} as period_start,
        kpi_id,
        date_day,
        source
    from gaps
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

period_gap_sources as (
    select distinct grain, period_start, kpi_id, source from period_gaps
),

gap_summary as (
    select
        days.grain,
        days.period_start,
        days.kpi_id,
        days.missing_days,
        sources.gap_sources
    from (
        select grain, period_start, kpi_id, count(distinct date_day) as missing_days
        from period_gaps
        group by 1, 2, 3
    ) as days
    inner join (
        select grain, period_start, kpi_id,
            {{ dbt.listagg('source', "','", 'order by source') }} as gap_sources
        from period_gap_sources
        group by 1, 2, 3
    ) as sources
        on days.grain = sources.grain and days.period_start = sources.period_start
        and days.kpi_id = sources.kpi_id
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
        union all
        select * from gap_nodes
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
        coalesce(gap_summary.missing_days, 0) as missing_days,
        gap_summary.gap_sources,
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
    left join gap_summary
        on nodes.grain = gap_summary.grain and nodes.period_start = gap_summary.period_start
        and nodes.kpi_id = gap_summary.kpi_id
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
