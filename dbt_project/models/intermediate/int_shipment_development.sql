{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  How each mature cohort of shipments developed with its age (0 to maturity_days): per
  cohort (the order's business day), dimension, member, measure and age, the change of the
  measure's value at that age (`change`: the cohort's value at age a is the sum of its
  changes up to a); and per cohort, dimension and member the shipments it held (`row_count`,
  measure_id null). fct_completion_factors sums the basis window's cohorts into the
  completion pattern; only a measure's dimensions that its exposure has are developed.

  A shipment's state at the end of each business day on which it changed (its day's last
  update) counts in its cohort from the later of that day and its order's (`age`); a state
  known after maturity_days never counts. A cohort is developed once it is mature, and again
  only when a delivery changes what it held before maturity: an update of a business day
  within maturity_days of its order's delivered late, an order delivered again, or a
  rerun of a night it was developed from (`delivered_on`, on its row of dimension 'total').
  So a night develops the cohort that matured that day, not every cohort of the basis
  window again; a first build (or a run with no window) develops every cohort of the basis
  window (the newest maturity_days + basis_days days, kpi_tree/tree.yaml `completion`).
  Kept by cohort (kpi_incremental_by_cohort).
#}
{%- set maturity = 30 -%}  {# maturity_days in tree.yaml #}
{%- set span = 121 -%}  {# maturity_days (30) + completion.basis_days (91) in tree.yaml #}
{#- the fact's measures, the development's columns m_<measure>, and its keys -#}
{%- set measures = [
    'cohort_gmv', 'shipped_orders', 'delivered_orders', 'signed_orders', 'refused_orders',
    'returned_orders', 'signed_gmv', 'refund_amount', 'delivery_days'
] -%}
{%- set keys = ['cohort_date', 'age', 'dimension', 'member'] -%}
{{ kpi_incremental_by_cohort('cohort_date') }}
-- depends_on: {{ ref('stg_shop__orders') }}  (read on a windowed run only)

with

-- the cohorts' clock, as fct_completion_factors reads it: the newest day of the base measures
as_of as (
    select
        {{ dbt.dateadd('day', 1 - span, 'max(date_day)') }} as basis_first,
        {{ dbt.dateadd('day', -1 * maturity, 'max(date_day)') }} as basis_last
    from {{ ref('fct_base_measures') }}
),

{% if is_incremental() and kpi_has_window() -%}
-- the cohorts developed already, with the newest delivery they were derived from
developed as (
    select
        cohort_date,
        max(delivered_on) as delivered_on
    from {{ this }}
    group by 1
),

-- the window's updates of a business day on which a developed cohort was not yet mature
late_updates as (
    select
        shipment_id,
        updated_on
    from {{ ref('stg_shop__shipments') }}
    where
        {{ kpi_in_window('delivered_on') }}
        and updated_on <= (
            select {{ dbt.dateadd('day', maturity, 'max(cohort_date)') }} from developed
        )
),

-- the developed cohorts the window changed before their maturity: a late update, an order
-- delivered again, or a rerun of a night they were developed from
changed as (
    select latest.order_business_date as cohort_date
    from late_updates
    inner join {{ ref('int_shipments_latest') }} as latest
        on late_updates.shipment_id = latest.shipment_id
    {{ kpi_key_range_join('latest.shipment_id', 'select shipment_id from late_updates') }}
    where
        late_updates.updated_on
        <= {{ dbt.dateadd('day', maturity, 'latest.order_business_date') }}
    union all
    select business_date as cohort_date
    from {{ ref('stg_shop__orders') }}
    where
        {{ kpi_in_window('delivered_on') }}
        and business_date <= (select max(cohort_date) from developed)
    union all
    select cohort_date
    from developed
    where delivered_on >= {{ kpi_window_start() }}
),

{% endif -%}
-- the cohorts this run develops: those of the basis window that matured since they were
-- last developed, and those changed (every one on a first build or without a window)
to_develop as (
    select latest.order_business_date as cohort_date
    from {{ ref('int_shipments_latest') }} as latest
    cross join as_of
    where latest.order_business_date between as_of.basis_first and as_of.basis_last
    {%- if is_incremental() and kpi_has_window() %}
        and latest.order_business_date not in (select cohort_date from developed)
    union
    select changed.cohort_date
    from changed
    cross join as_of
    where changed.cohort_date between as_of.basis_first and as_of.basis_last
    {%- else %}
    group by 1
    {%- endif %}
),

cohort as (
    select
        shipment_id,
        order_id,
        order_business_date,
        channel,
        campaign,
        order_amount,
        delivered_on
    from {{ ref('int_shipments_latest') }}
    where order_business_date in (select to_develop.cohort_date from to_develop)
),

-- every update of those shipments (read within the range of their keys, joined as one row:
-- none when no cohort is developed tonight)
updates as (
    select
        shipment_updates.shipment_id,
        shipment_updates.carrier,
        shipment_updates.payment_method,
        shipment_updates.status,
        shipment_updates.shipped_at,
        shipment_updates.delivered_at,
        shipment_updates.returned_at,
        shipment_updates.refund_amount,
        shipment_updates.updated_at,
        shipment_updates.updated_on,
        shipment_updates.delivered_on
    from {{ ref('stg_shop__shipments') }} as shipment_updates
    {{ kpi_key_range_join('shipment_updates.shipment_id', 'select shipment_id from cohort') }}
    where shipment_updates.shipment_id in (select cohort.shipment_id from cohort)
),

-- each update known by its cohort's maturity, with the columns of int_shipments_latest and
-- its age: it counts from the later of its day and its order's
states as (
    select
        cohort.shipment_id,
        cohort.order_id,
        cohort.order_business_date,
        cohort.channel,
        cohort.campaign,
        cohort.order_amount,
        updates.carrier,
        updates.payment_method,
        updates.status,
        updates.shipped_at,
        updates.delivered_at,
        updates.returned_at,
        updates.refund_amount,
        updates.updated_at,
        updates.delivered_on,
        {{ dbt.datediff('updates.shipped_at', 'updates.delivered_at', 'second') }} / 86400.0
            as delivery_days,
        {{ dbt.datediff(
            'cohort.order_business_date',
            'greatest(updates.updated_on, cohort.order_business_date)',
            'day'
        ) }} as age
    from updates
    inner join cohort on updates.shipment_id = cohort.shipment_id
    where updates.updated_on <= {{ dbt.dateadd('day', maturity, 'cohort.order_business_date') }}
),

-- each update's members and measures, and the age at which the next update replaced it. A
-- shipment's state at an age is its last update of that age (the day's last, by updated_at
-- as int_shipments_latest ranks them): an update replaced at its own age adds and takes back
-- its values at that age, and so counts for nothing
valued as (
    select
        shipment_id as row_key,
        order_business_date as cohort_date,
        age,
        lead(age) over (
            partition by shipment_id order by age, updated_at, delivered_on
        ) as next_age,
        coalesce(cast(channel as {{ dbt.type_string() }}), '(none)') as dim_channel,
        coalesce(cast(campaign as {{ dbt.type_string() }}), '(none)') as dim_campaign,
        coalesce(cast(carrier as {{ dbt.type_string() }}), '(none)') as dim_carrier,
        coalesce(cast(payment_method as {{ dbt.type_string() }}), '(none)') as dim_payment_method,
        cast(order_amount as {{ kpi_exact() }}) as m_cohort_gmv,
        cast(1 as {{ kpi_exact() }}) as m_shipped_orders,
        cast(
            case when status in ('signed', 'refused', 'returned') then 1 else 0 end as {{ kpi_exact() }}
        ) as m_delivered_orders,
        cast(
            case when status in ('signed', 'returned') then 1 else 0 end as {{ kpi_exact() }}
        ) as m_signed_orders,
        cast(
            case when status = 'refused' then 1 else 0 end as {{ kpi_exact() }}
        ) as m_refused_orders,
        cast(
            case when status = 'returned' then 1 else 0 end as {{ kpi_exact() }}
        ) as m_returned_orders,
        cast(
            case when status = 'signed' then order_amount else 0 end as {{ kpi_exact() }}
        ) as m_signed_gmv,
        cast(refund_amount as {{ kpi_exact() }}) as m_refund_amount,
        cast(delivery_days as {{ kpi_exact() }}) as m_delivery_days
    from states
),

-- the dimensions the measures are developed by (those of their exposure), and the total
dimensions as (
    select 'total' as dimension
    union all
    select 'channel' as dimension
    union all
    select 'campaign' as dimension
    union all
    select 'payment_method' as dimension
),

-- the states summed by cohort, ages and members before they are crossed with the
-- dimensions: many shipments share them
grouped as (
    select
        cohort_date,
        age,
        next_age,
        dim_channel,
        dim_campaign,
        dim_payment_method,
        sum(m_cohort_gmv) as m_cohort_gmv,
        sum(m_shipped_orders) as m_shipped_orders,
        sum(m_delivered_orders) as m_delivered_orders,
        sum(m_signed_orders) as m_signed_orders,
        sum(m_refused_orders) as m_refused_orders,
        sum(m_returned_orders) as m_returned_orders,
        sum(m_signed_gmv) as m_signed_gmv,
        sum(m_refund_amount) as m_refund_amount,
        sum(m_delivery_days) as m_delivery_days
    from valued
    group by 1, 2, 3, 4, 5, 6
),

-- a state adds its values from its age on, in each dimension, and takes them back at the
-- age the next state arrives (from its own member: a shipment's carrier or payment method
-- may change with its state); development_wide sums them
changes as (
    select
        grouped.cohort_date,
        grouped.age,
        dimensions.dimension,
        case dimensions.dimension
            when 'channel' then grouped.dim_channel
            when 'campaign' then grouped.dim_campaign
            when 'payment_method' then grouped.dim_payment_method
            else '(all)'
        end as member,
        grouped.m_cohort_gmv,
        grouped.m_shipped_orders,
        grouped.m_delivered_orders,
        grouped.m_signed_orders,
        grouped.m_refused_orders,
        grouped.m_returned_orders,
        grouped.m_signed_gmv,
        grouped.m_refund_amount,
        grouped.m_delivery_days
    from grouped
    cross join dimensions
    union all
    select
        grouped.cohort_date,
        grouped.next_age as age,
        dimensions.dimension,
        case dimensions.dimension
            when 'channel' then grouped.dim_channel
            when 'campaign' then grouped.dim_campaign
            when 'payment_method' then grouped.dim_payment_method
            else '(all)'
        end as member,
        -grouped.m_cohort_gmv as m_cohort_gmv,
        -grouped.m_shipped_orders as m_shipped_orders,
        -grouped.m_delivered_orders as m_delivered_orders,
        -grouped.m_signed_orders as m_signed_orders,
        -grouped.m_refused_orders as m_refused_orders,
        -grouped.m_returned_orders as m_returned_orders,
        -grouped.m_signed_gmv as m_signed_gmv,
        -grouped.m_refund_amount as m_refund_amount,
        -grouped.m_delivery_days as m_delivery_days
    from grouped
    cross join dimensions
    where grouped.next_age is not null
),

development_wide as (
    select
        cohort_date,
        age,
        dimension,
        member,
        sum(m_cohort_gmv) as m_cohort_gmv,
        sum(m_shipped_orders) as m_shipped_orders,
        sum(m_delivered_orders) as m_delivered_orders,
        sum(m_signed_orders) as m_signed_orders,
        sum(m_refused_orders) as m_refused_orders,
        sum(m_returned_orders) as m_returned_orders,
        sum(m_signed_gmv) as m_signed_gmv,
        sum(m_refund_amount) as m_refund_amount,
        sum(m_delivery_days) as m_delivery_days
    from changes
    group by 1, 2, 3, 4
),

development as (
    select
        cohort_date,
        dimension,
        member,
        measure_id,
        age,
        value as change
    from (
        {{ kpi_measures_long('development_wide', measures, keys) }}
    ) as long_rows
),

-- the shipments each cohort developed held (its states at the end of a day), with their
-- members, and its newest delivery
held as (
    select distinct
        cohort_date,
        row_key,
        dim_channel,
        dim_campaign,
        dim_carrier,
        dim_payment_method
    from valued
    where next_age is null or next_age > age
),

cohort_counts as (
    select
        cohort_date,
        count(distinct row_key) as row_count
    from held
    group by 1
),

cohort_deliveries as (
    select
        order_business_date as cohort_date,
        max(delivered_on) as delivered_on
    from cohort
    group by 1
),

-- every cohort developed has its total, 0 when it has no shipment left (its earlier rows
-- are then replaced all the same)
cohort_rows as (
    select
        to_develop.cohort_date,
        'total' as dimension,
        '(all)' as member,
        coalesce(cohort_counts.row_count, 0) as row_count,
        cohort_deliveries.delivered_on
    from to_develop
    left join cohort_counts on to_develop.cohort_date = cohort_counts.cohort_date
    left join cohort_deliveries on to_develop.cohort_date = cohort_deliveries.cohort_date
),

-- every dimension of the fact (a carrier too)
row_dimensions as (
    select 'channel' as dimension
    union all
    select 'campaign' as dimension
    union all
    select 'carrier' as dimension
    union all
    select 'payment_method' as dimension
),

member_rows as (
    select
        held.cohort_date,
        row_dimensions.dimension,
        case row_dimensions.dimension
            when 'channel' then held.dim_channel
            when 'campaign' then held.dim_campaign
            when 'carrier' then held.dim_carrier
            when 'payment_method' then held.dim_payment_method
        end as member,
        count(distinct held.row_key) as row_count,
        cast(null as date) as delivered_on
    from held
    cross join row_dimensions
    group by 1, 2, 3
),

rows_held as (
    select * from cohort_rows
    union all
    select * from member_rows
),

final as (
    select
        cohort_date,
        dimension,
        member,
        measure_id,
        age,
        change,
        cast(null as {{ dbt.type_bigint() }}) as row_count,
        cast(null as date) as delivered_on
    from development
    union all
    select
        cohort_date,
        dimension,
        member,
        cast(null as {{ dbt.type_string() }}) as measure_id,
        cast(null as {{ dbt.type_bigint() }}) as age,
        cast(null as {{ kpi_exact() }}) as change,
        row_count,
        delivered_on
    from rows_held
)

select * from final
