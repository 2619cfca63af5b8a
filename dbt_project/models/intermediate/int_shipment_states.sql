{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  The history of the shipments whose development the completion pattern reads: each
  shipment's state at the end of every business day on which it changed (`known_on`, never
  before its order's day), in its order's cohort, with the columns of int_shipments_latest.
  A state is the day's last update (by updated_at, as int_shipments_latest ranks them), so
  the latest state here is int_shipments_latest's row. Built from every update staging keeps
  (raw.shipments holds each status change as a row with its updated_at).

  Only the cohorts the pattern and the expected values read: the newest maturity_days +
  basis_days days of orders (kpi_tree/tree.yaml `completion`), so a night costs the same
  whatever the history holds.
#}
{%- set span = 121 -%}  {# maturity_days (30) + completion.basis_days (91) in tree.yaml #}
{{ config(materialized='table') }}
{#- the first order day of the cohorts read, and their shipments (for kpi_key_range): queries
    that run with the model's, not while it compiles -#}
{%- set newest_order_day -%}
(select max(business_date) from {{ ref('stg_shop__orders') }})
{%- endset -%}
{%- set first_cohort = dbt.dateadd('day', 1 - span, newest_order_day) -%}
{%- set cohort_keys -%}
select shipment_id from {{ ref('int_shipments_latest') }}
where order_business_date >= {{ first_cohort }}
{%- endset %}

with

cohort as (
    select shipment_id, order_id, order_business_date, channel, campaign, order_amount
    from {{ ref('int_shipments_latest') }}
    where order_business_date >= {{ first_cohort }}
),

-- every update of those shipments (read within the range of their keys: the end of the table)
updates as (
    select
        shipment_id,
        carrier,
        payment_method,
        status,
        shipped_at,
        delivered_at,
        returned_at,
        refund_amount,
        updated_at,
        updated_on,
        delivered_on
    from {{ ref('stg_shop__shipments') }}
    where
        shipment_id in (select cohort.shipment_id from cohort)
        and {{ kpi_key_range('shipment_id', cohort_keys) }}
),

-- the state at the end of each day with an update: its last update
daily as (
    select
        updates.*,
        row_number() over (
            partition by updates.shipment_id, updates.updated_on
            order by updates.updated_at desc, updates.delivered_on desc
        ) as recency
    from updates
),

final as (
    select
        cohort.shipment_id,
        cohort.order_id,
        cohort.order_business_date,
        cohort.channel,
        cohort.campaign,
        cohort.order_amount,
        daily.carrier,
        daily.payment_method,
        daily.status,
        daily.shipped_at,
        daily.delivered_at,
        daily.returned_at,
        daily.refund_amount,
        daily.updated_at,
        daily.updated_on,
        {{ dbt.datediff('daily.shipped_at', 'daily.delivered_at', 'second') }} / 86400.0
            as delivery_days,
        -- an outcome counts in its order's cohort from the later of its day and the order's
        greatest(daily.updated_on, cohort.order_business_date) as known_on
    from daily
    inner join cohort on daily.shipment_id = cohort.shipment_id
    where daily.recency = 1
)

select * from final
