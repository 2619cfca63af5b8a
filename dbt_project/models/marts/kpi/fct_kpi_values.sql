{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  Every KPI of the tree at every grain (day, ISO week, month), for the total and for each
  of the node's dimensions: numerator, denominator and value. A sum node is Σmeasure, a
  ratio node scale × Σnumerator / Σdenominator over the period's days (never an average of
  daily ratios), a quantile node is computed from the fact rows of the period. Rows of nodes
  that depend on late-maturing facts are provisional while their period ends within
  maturity_days of the newest day; rows outside a run's window are cleared by the post-hook
  once they mature.

  A KPI the shop cannot compute (a source it reads was never delivered: fct_kpi_availability)
  has one total row a period, with no numbers and the sources it misses, never a 0.
#}
{%- set lookback = 30 -%}  {# maturity_days in tree.yaml #}
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

-- each additive KPI's formula: the measure it sums (numerator) and, for a ratio, the measure
-- it divides by (denominator)
node_formulas as (
    select * from values
        ('net_revenue', 'signed_gmv', null),
        ('gmv', 'gmv', null),
        ('sessions', 'sessions', null),
        ('paid_sessions', 'paid_sessions', null),
        ('ad_clicks', 'ad_clicks', null),
        ('impressions', 'impressions', null),
        ('ad_spend', 'ad_spend', null),
        ('cpm', 'ad_spend', 'impressions'),
        ('ctr', 'ad_clicks', 'impressions'),
        ('cpc', 'ad_spend', 'ad_clicks'),
        ('click_to_session_rate', 'paid_sessions', 'ad_clicks'),
        ('roas', 'gmv', 'ad_spend'),
        ('organic_sessions', 'organic_sessions', null),
        ('conversion_rate', 'orders', 'sessions'),
        ('orders', 'orders', null),
        ('inquiry_rate', 'inquiries', 'detail_sessions'),
        ('inquiry_conversion', 'inquiry_orders', 'inquiries'),
        ('first_response_mean', 'first_response_seconds', 'answered_conversations'),
        ('conversation_length', 'conversation_minutes', 'conversations'),
        ('repeat_customer_rate', 'returning_orders', 'orders'),
        ('aov', 'gmv', 'orders'),
        ('cross_sell_rate', 'multi_item_orders', 'orders'),
        ('signoff_rate', 'signed_gmv', 'gmv'),
        ('parcel_signoff_rate', 'signed_orders', 'delivered_orders'),
        ('refusal_rate', 'refused_orders', 'delivered_orders'),
        ('return_rate', 'returned_orders', 'signed_orders'),
        ('refund_rate', 'refund_amount', 'cohort_gmv'),
        ('delivery_time', 'delivery_days', 'delivered_orders'),
        ('cod_review_delay', 'cod_review_minutes', 'cod_reviewed_orders')
            as formulas (kpi_id, numerator_measure, denominator_measure)
),

node_measures as (
    select kpi_id, numerator_measure as measure_id, 'num' as role from node_formulas
    union all
    select kpi_id, denominator_measure as measure_id, 'den' as role from node_formulas
    where denominator_measure is not null
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
        on node_measures.kpi_id = gap_days.kpi_id and base.date_day = gap_days.date_day
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

-- what each KPI can be sliced by: its total and its dimensions
node_dimensions as (
    select * from values
        ('net_revenue', 'total'), ('net_revenue', 'channel'), ('net_revenue', 'campaign'),
        ('net_revenue', 'payment_method'),
        ('gmv', 'total'), ('gmv', 'channel'), ('gmv', 'campaign'),
        ('sessions', 'total'), ('sessions', 'channel'), ('sessions', 'campaign'),
        ('paid_sessions', 'total'), ('paid_sessions', 'channel'), ('paid_sessions', 'campaign'),
        ('ad_clicks', 'total'), ('ad_clicks', 'channel'), ('ad_clicks', 'campaign'),
        ('impressions', 'total'), ('impressions', 'channel'), ('impressions', 'campaign'),
        ('ad_spend', 'total'), ('ad_spend', 'channel'), ('ad_spend', 'campaign'),
        ('cpm', 'total'), ('cpm', 'channel'), ('cpm', 'campaign'),
        ('ctr', 'total'), ('ctr', 'channel'), ('ctr', 'campaign'),
        ('cpc', 'total'), ('cpc', 'channel'), ('cpc', 'campaign'),
        ('click_to_session_rate', 'total'), ('click_to_session_rate', 'channel'),
        ('click_to_session_rate', 'campaign'),
        ('roas', 'total'), ('roas', 'channel'), ('roas', 'campaign'),
        ('organic_sessions', 'total'), ('organic_sessions', 'channel'),
        ('organic_sessions', 'campaign'),
        ('conversion_rate', 'total'), ('conversion_rate', 'channel'),
        ('conversion_rate', 'campaign'),
        ('orders', 'total'), ('orders', 'channel'), ('orders', 'campaign'),
        ('orders', 'payment_method'), ('orders', 'customer_type'),
        ('inquiry_rate', 'total'),
        ('inquiry_conversion', 'total'), ('inquiry_conversion', 'agent'),
        ('first_response_mean', 'total'), ('first_response_mean', 'agent'),
        ('first_response_mean', 'topic'),
        ('conversation_length', 'total'), ('conversation_length', 'agent'),
        ('conversation_length', 'topic'),
        ('repeat_customer_rate', 'total'), ('repeat_customer_rate', 'channel'),
        ('repeat_customer_rate', 'campaign'), ('repeat_customer_rate', 'payment_method'),
        ('aov', 'total'), ('aov', 'channel'), ('aov', 'campaign'), ('aov', 'payment_method'),
        ('aov', 'customer_type'),
        ('cross_sell_rate', 'total'), ('cross_sell_rate', 'channel'),
        ('cross_sell_rate', 'campaign'), ('cross_sell_rate', 'payment_method'),
        ('cross_sell_rate', 'customer_type'),
        ('signoff_rate', 'total'), ('signoff_rate', 'channel'), ('signoff_rate', 'campaign'),
        ('signoff_rate', 'payment_method'),
        ('parcel_signoff_rate', 'total'), ('parcel_signoff_rate', 'channel'),
        ('parcel_signoff_rate', 'campaign'), ('parcel_signoff_rate', 'carrier'),
        ('parcel_signoff_rate', 'payment_method'),
        ('refusal_rate', 'total'), ('refusal_rate', 'channel'), ('refusal_rate', 'campaign'),
        ('refusal_rate', 'carrier'), ('refusal_rate', 'payment_method'),
        ('return_rate', 'total'), ('return_rate', 'channel'), ('return_rate', 'campaign'),
        ('return_rate', 'carrier'), ('return_rate', 'payment_method'),
        ('refund_rate', 'total'), ('refund_rate', 'channel'), ('refund_rate', 'campaign'),
        ('refund_rate', 'carrier'), ('refund_rate', 'payment_method'),
        ('delivery_time', 'total'), ('delivery_time', 'channel'), ('delivery_time', 'campaign'),
        ('delivery_time', 'carrier'), ('delivery_time', 'payment_method'),
        ('cod_review_delay', 'total'), ('cod_review_delay', 'channel'),
        ('cod_review_delay', 'campaign')
            as dimensions (kpi_id, dimension)
),

additive_periods as (
    select
        periods.grain,
        periods.period_start,
        periods.kpi_id,
        periods.dimension,
        periods.member,
        node_formulas.denominator_measure is not null as has_den,
        cast(coalesce(periods.num, 0) as {{ kpi_double() }}) as num_value,
        cast(periods.den as {{ kpi_double() }}) as den_value
    from periods
    inner join node_formulas on periods.kpi_id = node_formulas.kpi_id
    inner join node_dimensions
        on periods.kpi_id = node_dimensions.kpi_id and periods.dimension = node_dimensions.dimension
    where (
        periods.num is not null
        or (node_formulas.denominator_measure is not null and periods.den is not null)
    )
),

-- each KPI's value, as its formula in tree.yaml: Σ over the period's days, never an average
-- of daily ratios
additive_nodes as (
    select
        grain,
        period_start,
        kpi_id,
        dimension,
        member,
        num_value as numerator,
        case when has_den then coalesce(den_value, 0) end as denominator,
        case kpi_id
            -- net_revenue = Σ signed_gmv
            when 'net_revenue' then num_value
            -- gmv = Σ gmv
            when 'gmv' then num_value
            -- sessions = Σ sessions
            when 'sessions' then num_value
            -- paid_sessions = Σ paid_sessions
            when 'paid_sessions' then num_value
            -- ad_clicks = Σ ad_clicks
            when 'ad_clicks' then num_value
            -- impressions = Σ impressions
            when 'impressions' then num_value
            -- ad_spend = Σ ad_spend
            when 'ad_spend' then num_value
            -- cpm = 1000.0 × Σ ad_spend / Σ impressions
            when 'cpm' then case when den_value <> 0 then 1000.0 * num_value / den_value end
            -- ctr = Σ ad_clicks / Σ impressions
            when 'ctr' then case when den_value <> 0 then num_value / den_value end
            -- cpc = Σ ad_spend / Σ ad_clicks
            when 'cpc' then case when den_value <> 0 then num_value / den_value end
            -- click_to_session_rate = Σ paid_sessions / Σ ad_clicks
            when 'click_to_session_rate'
                then case when den_value <> 0 then num_value / den_value end
            -- roas = Σ gmv / Σ ad_spend
            when 'roas' then case when den_value <> 0 then num_value / den_value end
            -- organic_sessions = Σ organic_sessions
            when 'organic_sessions' then num_value
            -- conversion_rate = Σ orders / Σ sessions
            when 'conversion_rate' then case when den_value <> 0 then num_value / den_value end
            -- orders = Σ orders
            when 'orders' then num_value
            -- inquiry_rate = Σ inquiries / Σ detail_sessions
            when 'inquiry_rate' then case when den_value <> 0 then num_value / den_value end
            -- inquiry_conversion = Σ inquiry_orders / Σ inquiries
            when 'inquiry_conversion' then case when den_value <> 0 then num_value / den_value end
            -- first_response_mean = Σ first_response_seconds / Σ answered_conversations
            when 'first_response_mean' then case when den_value <> 0 then num_value / den_value end
            -- conversation_length = Σ conversation_minutes / Σ conversations
            when 'conversation_length' then case when den_value <> 0 then num_value / den_value end
            -- repeat_customer_rate = Σ returning_orders / Σ orders
            when 'repeat_customer_rate' then case when den_value <> 0 then num_value / den_value end
            -- aov = Σ gmv / Σ orders
            when 'aov' then case when den_value <> 0 then num_value / den_value end
            -- cross_sell_rate = Σ multi_item_orders / Σ orders
            when 'cross_sell_rate' then case when den_value <> 0 then num_value / den_value end
            -- signoff_rate = Σ signed_gmv / Σ gmv
            when 'signoff_rate' then case when den_value <> 0 then num_value / den_value end
            -- parcel_signoff_rate = Σ signed_orders / Σ delivered_orders
            when 'parcel_signoff_rate' then case when den_value <> 0 then num_value / den_value end
            -- refusal_rate = Σ refused_orders / Σ delivered_orders
            when 'refusal_rate' then case when den_value <> 0 then num_value / den_value end
            -- return_rate = Σ returned_orders / Σ signed_orders
            when 'return_rate' then case when den_value <> 0 then num_value / den_value end
            -- refund_rate = Σ refund_amount / Σ cohort_gmv
            when 'refund_rate' then case when den_value <> 0 then num_value / den_value end
            -- delivery_time = Σ delivery_days / Σ delivered_orders
            when 'delivery_time' then case when den_value <> 0 then num_value / den_value end
            -- cod_review_delay = Σ cod_review_minutes / Σ cod_reviewed_orders
            when 'cod_review_delay' then case when den_value <> 0 then num_value / den_value end
        end as value
    from additive_periods
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

gap_day_counts as (
    select grain, period_start, kpi_id, count(distinct date_day) as missing_days
    from period_gaps
    group by 1, 2, 3
),

gap_source_lists as (
    select
        grain,
        period_start,
        kpi_id,
        {{ dbt.listagg('source', "','", 'order by source') }} as gap_sources
    from period_gap_sources
    group by 1, 2, 3
),

gap_summary as (
    select
        days.grain,
        days.period_start,
        days.kpi_id,
        days.missing_days,
        sources.gap_sources
    from gap_day_counts as days
    inner join gap_source_lists as sources
        on days.grain = sources.grain and days.period_start = sources.period_start
        and days.kpi_id = sources.kpi_id
),

-- A percentile is read off the period's histogram: each distinct value with its count, ranked
-- with window functions. It is exact, with percentile_cont's interpolation: between the values
-- at positions floor(h) and ceil(h) of the sorted rows, h = (n - 1) × q. A percentile aggregate
-- holds every row of its group in memory and cannot spill to disk (a large shop's year does
-- not fit); a histogram has one row per distinct value, and the window sorts spill.
quantile_histogram as (
    {%- for grain in kpi_grains() %}
    -- first_response_p90: the 0.9 quantile of first_response_seconds over conversations, total
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'business_date') }} as period_start,
        'first_response_p90' as kpi_id,
        'total' as dimension,
        '(all)' as member,
        cast(0.9 as {{ kpi_double() }}) as q,
        cast(first_response_seconds as {{ kpi_double() }}) as x,
        count(*) as c
    from {{ ref('int_conversations_enriched') }}
    where first_response_seconds is not null
        and {{ kpi_days_for_window_periods('business_date', lookback) }}
    group by 1, 2, 3, 4, 5, 6, 7
    union all
    -- first_response_p90: the 0.9 quantile of first_response_seconds over conversations, agent
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'business_date') }} as period_start,
        'first_response_p90' as kpi_id,
        'agent' as dimension,
        coalesce(cast(agent_id as {{ dbt.type_string() }}), '(none)') as member,
        cast(0.9 as {{ kpi_double() }}) as q,
        cast(first_response_seconds as {{ kpi_double() }}) as x,
        count(*) as c
    from {{ ref('int_conversations_enriched') }}
    where first_response_seconds is not null
        and {{ kpi_days_for_window_periods('business_date', lookback) }}
    group by 1, 2, 3, 4, 5, 6, 7
    union all
    -- first_response_p90: the 0.9 quantile of first_response_seconds over conversations, topic
    select
        '{{ grain }}' as grain,
        {{ kpi_period_start(grain, 'business_date') }} as period_start,
        'first_response_p90' as kpi_id,
        'topic' as dimension,
        coalesce(cast(topic as {{ dbt.type_string() }}), '(none)') as member,
        cast(0.9 as {{ kpi_double() }}) as q,
        cast(first_response_seconds as {{ kpi_double() }}) as x,
        count(*) as c
    from {{ ref('int_conversations_enriched') }}
    where first_response_seconds is not null
        and {{ kpi_days_for_window_periods('business_date', lookback) }}
    group by 1, 2, 3, 4, 5, 6, 7
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

quantile_ranked as (
    select
        grain, period_start, kpi_id, dimension, member,
        x,
        c,
        sum(c) over (
            partition by grain, period_start, kpi_id, dimension, member
            order by x rows between unbounded preceding and current row
        ) - c as rows_below,
        (sum(c) over (partition by grain, period_start, kpi_id, dimension, member) - 1) * q as h
    from quantile_histogram
),

quantile_bounds as (
    select
        grain, period_start, kpi_id, dimension, member,
        sum(c) as n,
        max(h) as h,
        max(case when rows_below <= floor(h) and floor(h) < rows_below + c then x end) as x_low,
        max(case when rows_below <= ceil(h) and ceil(h) < rows_below + c then x end) as x_high
    from quantile_ranked
    group by 1, 2, 3, 4, 5
),

quantile_nodes as (
    select
        grain, period_start, kpi_id, dimension, member,
        cast(n as {{ kpi_double() }}) as numerator,
        cast(null as {{ kpi_double() }}) as denominator,
        x_low + (h - floor(h)) * (x_high - x_low) as value
    from quantile_bounds
),

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

computed_nodes as (
    select * from additive_nodes
    union all
    select * from quantile_nodes
    union all
    select * from gap_nodes
),

nodes as (
    select * from computed_nodes
    where
        kpi_id in (
            select availability.kpi_id from availability
            where availability.is_available
        )
    union all
    select * from unavailable_nodes
),

-- the KPIs that read a fact that matures late: provisional within maturity_days of the newest day
late_nodes as (
    select * from values
        ('net_revenue', true),
        ('gmv', false),
        ('sessions', false),
        ('paid_sessions', false),
        ('ad_clicks', false),
        ('impressions', false),
        ('ad_spend', false),
        ('cpm', false),
        ('ctr', false),
        ('cpc', false),
        ('click_to_session_rate', false),
        ('roas', false),
        ('organic_sessions', false),
        ('conversion_rate', false),
        ('orders', false),
        ('inquiry_rate', false),
        ('inquiry_conversion', false),
        ('first_response_mean', false),
        ('first_response_p90', false),
        ('conversation_length', false),
        ('repeat_customer_rate', false),
        ('aov', false),
        ('cross_sell_rate', false),
        ('signoff_rate', true),
        ('parcel_signoff_rate', true),
        ('refusal_rate', true),
        ('return_rate', true),
        ('refund_rate', true),
        ('delivery_time', true),
        ('cod_review_delay', false)
            as late (kpi_id, matures_late)
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
        (
            late_nodes.matures_late
            and case nodes.grain
                {%- for grain in kpi_grains() %}
                when '{{ grain }}' then {{ kpi_period_end(grain, 'nodes.period_start') }}
                {%- endfor %}
            end > {{ dbt.dateadd('day', -1 * lookback, 'as_of.as_of_date') }}
            and availability.is_available
        ) as is_provisional,
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
        on nodes.grain = expected.grain
        and nodes.period_start = expected.period_start
        and nodes.kpi_id = expected.kpi_id
        and nodes.dimension = expected.dimension
        and nodes.member = expected.member
        and availability.is_available
    where {{ kpi_periods_in_window('nodes.grain', 'nodes.period_start', lookback) }}
)

select * from final
