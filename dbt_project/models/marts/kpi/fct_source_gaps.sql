{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  The days a source is missing: one row per source and business day on which the warehouse
  holds rows of other sources but none of this one, after its first day. Only a source that
  alone makes a fact with its own day (sessions, ad spend, conversations, orders): an order's
  lines have no day of their own, and shipments count on their order's day, where a recent
  day without outcomes is normal. A source the shop never delivered is not here (its KPIs
  are not available at all: fct_kpi_availability). A day on which no source delivered
  anything is not a business day the warehouse knows, so it is not listed either.

  That day, every KPI that reads the source is unknown (null in fct_kpi_values, never 0), and
  a week or month holding the day is computed over the other days and flagged incomplete.
  The quality gate holds back each unit owning such a KPI until the day is repaired (its
  file lands) or an operator accepts the gap (`kpi gaps accept SOURCE DAY --reason ...`).
#}
with

-- the measures of each fact made of one source alone that does not mature: their source
measure_facts as (
    select * from values
        ('orders', 'orders'),
        ('gmv', 'orders'),
        ('multi_item_orders', 'orders'),
        ('returning_orders', 'orders'),
        ('cod_orders', 'orders'),
        ('cod_review_minutes', 'orders'),
        ('cod_reviewed_orders', 'orders'),
        ('sessions', 'sessions'),
        ('paid_sessions', 'sessions'),
        ('organic_sessions', 'sessions'),
        ('detail_sessions', 'sessions'),
        ('impressions', 'ad_spend'),
        ('ad_clicks', 'ad_spend'),
        ('ad_spend', 'ad_spend'),
        ('inquiries', 'conversations'),
        ('inquiry_orders', 'conversations'),
        ('conversations', 'conversations'),
        ('answered_conversations', 'conversations'),
        ('first_response_seconds', 'conversations'),
        ('conversation_minutes', 'conversations')
            as measure_facts (measure_id, source)
),

present as (
    select distinct base.date_day, measure_facts.source
    from {{ ref('fct_base_measures') }} as base
    inner join measure_facts on base.measure_id = measure_facts.measure_id
    where base.dimension = 'total'
),

days as (
    select distinct date_day from {{ ref('fct_base_measures') }}
),

spans as (
    select source, min(date_day) as first_day
    from present
    group by source
),

-- the KPIs each source dates
affected as (
    select * from values
        ('orders', 'gmv'),
        ('orders', 'roas'),
        ('orders', 'conversion_rate'),
        ('orders', 'orders'),
        ('orders', 'repeat_customer_rate'),
        ('orders', 'aov'),
        ('orders', 'cross_sell_rate'),
        ('orders', 'signoff_rate'),
        ('orders', 'cod_review_delay'),
        ('sessions', 'sessions'),
        ('sessions', 'paid_sessions'),
        ('sessions', 'click_to_session_rate'),
        ('sessions', 'organic_sessions'),
        ('sessions', 'conversion_rate'),
        ('sessions', 'inquiry_rate'),
        ('ad_spend', 'ad_clicks'),
        ('ad_spend', 'impressions'),
        ('ad_spend', 'ad_spend'),
        ('ad_spend', 'cpm'),
        ('ad_spend', 'ctr'),
        ('ad_spend', 'cpc'),
        ('ad_spend', 'click_to_session_rate'),
        ('ad_spend', 'roas'),
        ('conversations', 'inquiry_rate'),
        ('conversations', 'inquiry_conversion'),
        ('conversations', 'first_response_mean'),
        ('conversations', 'first_response_p90'),
        ('conversations', 'conversation_length')
            as affected (source, kpi_id)
),

final as (
    select
        spans.source,
        days.date_day,
        affected.kpi_id
    from spans
    cross join days
    inner join affected on spans.source = affected.source
    left join present
        on spans.source = present.source and days.date_day = present.date_day
    where
        days.date_day > spans.first_day
        and present.source is null
)

select * from final
