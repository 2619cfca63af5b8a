{#
  GENERATED from kpi_tree/tree.yaml by kpi_tree/dbt_models.py: do not edit.
  Regenerate: `.venv/bin/python -m kpi_tree.dbt_export`
  Check (exits 1 while this file is stale): `.venv/bin/python -m kpi_tree.dbt_export --check`

  The tree's nodes as a table, for BI tools to draw: one select a node, in the
  tree's depth-first order.
#}
{%- set text = dbt.type_string() -%}

with

nodes as (
    -- net_revenue
    select
        cast('net_revenue' as {{ text }}) as kpi_id,
        cast('Net revenue (signed-off GMV)' as {{ text }}) as name_en,
        cast('签收交易额' as {{ text }}) as name_zh,
        cast('money' as {{ text }}) as unit,
        cast('management' as {{ text }}) as team,
        cast('Management' as {{ text }}) as team_en,
        cast('管理层' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('signed_gmv' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,payment_method' as {{ text }}) as dimensions,
        cast(null as {{ text }}) as parent_kpi_id,
        cast(null as {{ text }}) as relation_to_parent,
        1 as tree_order
    union all
    -- gmv
    select
        cast('gmv' as {{ text }}) as kpi_id,
        cast('GMV' as {{ text }}) as name_en,
        cast('交易额' as {{ text }}) as name_zh,
        cast('money' as {{ text }}) as unit,
        cast('management' as {{ text }}) as team,
        cast('Management' as {{ text }}) as team_en,
        cast('管理层' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('gmv' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('net_revenue' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        2 as tree_order
    union all
    -- sessions
    select
        cast('sessions' as {{ text }}) as kpi_id,
        cast('Sessions' as {{ text }}) as name_en,
        cast('流量' as {{ text }}) as name_zh,
        cast('count' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('sessions' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('gmv' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        3 as tree_order
    union all
    -- paid_sessions
    select
        cast('paid_sessions' as {{ text }}) as kpi_id,
        cast('Paid sessions' as {{ text }}) as name_en,
        cast('付费流量' as {{ text }}) as name_zh,
        cast('count' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('paid_sessions' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('sessions' as {{ text }}) as parent_kpi_id,
        cast('sum' as {{ text }}) as relation_to_parent,
        4 as tree_order
    union all
    -- ad_clicks
    select
        cast('ad_clicks' as {{ text }}) as kpi_id,
        cast('Ad clicks' as {{ text }}) as name_en,
        cast('广告点击' as {{ text }}) as name_zh,
        cast('count' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('ad_clicks' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('paid_sessions' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        5 as tree_order
    union all
    -- impressions
    select
        cast('impressions' as {{ text }}) as kpi_id,
        cast('Impressions' as {{ text }}) as name_en,
        cast('展现量' as {{ text }}) as name_zh,
        cast('count' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('impressions' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('ad_clicks' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        6 as tree_order
    union all
    -- ad_spend
    select
        cast('ad_spend' as {{ text }}) as kpi_id,
        cast('Ad spend' as {{ text }}) as name_en,
        cast('广告投放额度' as {{ text }}) as name_zh,
        cast('money' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('ad_spend' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('impressions' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        7 as tree_order
    union all
    -- cpm
    select
        cast('cpm' as {{ text }}) as kpi_id,
        cast('Cost per thousand impressions' as {{ text }}) as name_en,
        cast('千次展现成本' as {{ text }}) as name_zh,
        cast('money' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('ad_spend' as {{ text }}) as numerator_measure,
        cast('impressions' as {{ text }}) as denominator_measure,
        cast(1000.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('impressions' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        8 as tree_order
    union all
    -- ctr
    select
        cast('ctr' as {{ text }}) as kpi_id,
        cast('Ad click-through rate' as {{ text }}) as name_en,
        cast('广告点击率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('ad_clicks' as {{ text }}) as numerator_measure,
        cast('impressions' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('ad_clicks' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        9 as tree_order
    union all
    -- cpc
    select
        cast('cpc' as {{ text }}) as kpi_id,
        cast('Cost per click' as {{ text }}) as name_en,
        cast('单次点击成本' as {{ text }}) as name_zh,
        cast('money' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('ad_spend' as {{ text }}) as numerator_measure,
        cast('ad_clicks' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('ad_clicks' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        10 as tree_order
    union all
    -- click_to_session_rate
    select
        cast('click_to_session_rate' as {{ text }}) as kpi_id,
        cast('Click-to-session rate' as {{ text }}) as name_en,
        cast('点击到访率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('paid_sessions' as {{ text }}) as numerator_measure,
        cast('ad_clicks' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('paid_sessions' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        11 as tree_order
    union all
    -- roas
    select
        cast('roas' as {{ text }}) as kpi_id,
        cast('Return on ad spend' as {{ text }}) as name_en,
        cast('广告投入产出比' as {{ text }}) as name_zh,
        cast('multiple' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('gmv' as {{ text }}) as numerator_measure,
        cast('ad_spend' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('paid_sessions' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        12 as tree_order
    union all
    -- organic_sessions
    select
        cast('organic_sessions' as {{ text }}) as kpi_id,
        cast('Organic and direct sessions' as {{ text }}) as name_en,
        cast('自然流量' as {{ text }}) as name_zh,
        cast('count' as {{ text }}) as unit,
        cast('marketing' as {{ text }}) as team,
        cast('Marketing' as {{ text }}) as team_en,
        cast('推广部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('organic_sessions' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('sessions' as {{ text }}) as parent_kpi_id,
        cast('sum' as {{ text }}) as relation_to_parent,
        13 as tree_order
    union all
    -- conversion_rate
    select
        cast('conversion_rate' as {{ text }}) as kpi_id,
        cast('Conversion rate' as {{ text }}) as name_en,
        cast('流量转化率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('operations' as {{ text }}) as team,
        cast('Operations' as {{ text }}) as team_en,
        cast('运营部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('orders' as {{ text }}) as numerator_measure,
        cast('sessions' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('gmv' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        14 as tree_order
    union all
    -- orders
    select
        cast('orders' as {{ text }}) as kpi_id,
        cast('Orders' as {{ text }}) as name_en,
        cast('订单数' as {{ text }}) as name_zh,
        cast('count' as {{ text }}) as unit,
        cast('operations' as {{ text }}) as team,
        cast('Operations' as {{ text }}) as team_en,
        cast('运营部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('sum' as {{ text }}) as formula_kind,
        cast('orders' as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,payment_method,customer_type' as {{ text }}) as dimensions,
        cast('conversion_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        15 as tree_order
    union all
    -- inquiry_rate
    select
        cast('inquiry_rate' as {{ text }}) as kpi_id,
        cast('Detail-page to inquiry rate' as {{ text }}) as name_en,
        cast('详情页咨询率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('operations' as {{ text }}) as team,
        cast('Operations' as {{ text }}) as team_en,
        cast('运营部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('inquiries' as {{ text }}) as numerator_measure,
        cast('detail_sessions' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('' as {{ text }}) as dimensions,
        cast('conversion_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        16 as tree_order
    union all
    -- inquiry_conversion
    select
        cast('inquiry_conversion' as {{ text }}) as kpi_id,
        cast('Inquiry conversion rate' as {{ text }}) as name_en,
        cast('咨询转化率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('customer_service' as {{ text }}) as team,
        cast('Customer service' as {{ text }}) as team_en,
        cast('客服部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('inquiry_orders' as {{ text }}) as numerator_measure,
        cast('inquiries' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('agent' as {{ text }}) as dimensions,
        cast('conversion_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        17 as tree_order
    union all
    -- first_response_mean
    select
        cast('first_response_mean' as {{ text }}) as kpi_id,
        cast('First-response time (mean)' as {{ text }}) as name_en,
        cast('平均首次响应时间' as {{ text }}) as name_zh,
        cast('seconds' as {{ text }}) as unit,
        cast('customer_service' as {{ text }}) as team,
        cast('Customer service' as {{ text }}) as team_en,
        cast('客服部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('first_response_seconds' as {{ text }}) as numerator_measure,
        cast('answered_conversations' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('agent,topic' as {{ text }}) as dimensions,
        cast('inquiry_conversion' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        18 as tree_order
    union all
    -- first_response_p90
    select
        cast('first_response_p90' as {{ text }}) as kpi_id,
        cast('First-response time (90th percentile)' as {{ text }}) as name_en,
        cast('首次响应时间P90' as {{ text }}) as name_zh,
        cast('seconds' as {{ text }}) as unit,
        cast('customer_service' as {{ text }}) as team,
        cast('Customer service' as {{ text }}) as team_en,
        cast('客服部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('quantile' as {{ text }}) as formula_kind,
        cast(null as {{ text }}) as numerator_measure,
        cast(null as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(0.9 as {{ kpi_double() }}) as quantile,
        cast('agent,topic' as {{ text }}) as dimensions,
        cast('inquiry_conversion' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        19 as tree_order
    union all
    -- conversation_length
    select
        cast('conversation_length' as {{ text }}) as kpi_id,
        cast('Conversation length' as {{ text }}) as name_en,
        cast('单次沟通时间' as {{ text }}) as name_zh,
        cast('minutes' as {{ text }}) as unit,
        cast('customer_service' as {{ text }}) as team,
        cast('Customer service' as {{ text }}) as team_en,
        cast('客服部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('conversation_minutes' as {{ text }}) as numerator_measure,
        cast('conversations' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('agent,topic' as {{ text }}) as dimensions,
        cast('inquiry_conversion' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        20 as tree_order
    union all
    -- repeat_customer_rate
    select
        cast('repeat_customer_rate' as {{ text }}) as kpi_id,
        cast('Repeat-customer rate' as {{ text }}) as name_en,
        cast('回头客率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('operations' as {{ text }}) as team,
        cast('Operations' as {{ text }}) as team_en,
        cast('运营部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('returning_orders' as {{ text }}) as numerator_measure,
        cast('orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,payment_method' as {{ text }}) as dimensions,
        cast('conversion_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        21 as tree_order
    union all
    -- aov
    select
        cast('aov' as {{ text }}) as kpi_id,
        cast('Average order value' as {{ text }}) as name_en,
        cast('客单价' as {{ text }}) as name_zh,
        cast('money' as {{ text }}) as unit,
        cast('operations' as {{ text }}) as team,
        cast('Operations' as {{ text }}) as team_en,
        cast('运营部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('gmv' as {{ text }}) as numerator_measure,
        cast('orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,payment_method,customer_type' as {{ text }}) as dimensions,
        cast('gmv' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        22 as tree_order
    union all
    -- cross_sell_rate
    select
        cast('cross_sell_rate' as {{ text }}) as kpi_id,
        cast('Cross-sell rate' as {{ text }}) as name_en,
        cast('关联销售率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('operations' as {{ text }}) as team,
        cast('Operations' as {{ text }}) as team_en,
        cast('运营部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('multi_item_orders' as {{ text }}) as numerator_measure,
        cast('orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,payment_method,customer_type' as {{ text }}) as dimensions,
        cast('aov' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        23 as tree_order
    union all
    -- signoff_rate
    select
        cast('signoff_rate' as {{ text }}) as kpi_id,
        cast('Sign-off rate (by value)' as {{ text }}) as name_en,
        cast('签收率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('logistics' as {{ text }}) as team,
        cast('Logistics' as {{ text }}) as team_en,
        cast('物流部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('signed_gmv' as {{ text }}) as numerator_measure,
        cast('gmv' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,payment_method' as {{ text }}) as dimensions,
        cast('net_revenue' as {{ text }}) as parent_kpi_id,
        cast('product' as {{ text }}) as relation_to_parent,
        24 as tree_order
    union all
    -- parcel_signoff_rate
    select
        cast('parcel_signoff_rate' as {{ text }}) as kpi_id,
        cast('Parcel sign-off rate' as {{ text }}) as name_en,
        cast('包裹签收率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('logistics' as {{ text }}) as team,
        cast('Logistics' as {{ text }}) as team_en,
        cast('物流部' as {{ text }}) as team_zh,
        cast('higher' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('signed_orders' as {{ text }}) as numerator_measure,
        cast('delivered_orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,carrier,payment_method' as {{ text }}) as dimensions,
        cast('signoff_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        25 as tree_order
    union all
    -- refusal_rate
    select
        cast('refusal_rate' as {{ text }}) as kpi_id,
        cast('Refusal rate' as {{ text }}) as name_en,
        cast('拒签率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('logistics' as {{ text }}) as team,
        cast('Logistics' as {{ text }}) as team_en,
        cast('物流部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('refused_orders' as {{ text }}) as numerator_measure,
        cast('delivered_orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,carrier,payment_method' as {{ text }}) as dimensions,
        cast('signoff_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        26 as tree_order
    union all
    -- return_rate
    select
        cast('return_rate' as {{ text }}) as kpi_id,
        cast('Return rate' as {{ text }}) as name_en,
        cast('退货率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('logistics' as {{ text }}) as team,
        cast('Logistics' as {{ text }}) as team_en,
        cast('物流部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('returned_orders' as {{ text }}) as numerator_measure,
        cast('signed_orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,carrier,payment_method' as {{ text }}) as dimensions,
        cast('signoff_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        27 as tree_order
    union all
    -- refund_rate
    select
        cast('refund_rate' as {{ text }}) as kpi_id,
        cast('Refund rate (by value)' as {{ text }}) as name_en,
        cast('退款率' as {{ text }}) as name_zh,
        cast('ratio' as {{ text }}) as unit,
        cast('logistics' as {{ text }}) as team,
        cast('Logistics' as {{ text }}) as team_en,
        cast('物流部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('refund_amount' as {{ text }}) as numerator_measure,
        cast('cohort_gmv' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,carrier,payment_method' as {{ text }}) as dimensions,
        cast('signoff_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        28 as tree_order
    union all
    -- delivery_time
    select
        cast('delivery_time' as {{ text }}) as kpi_id,
        cast('Delivery time' as {{ text }}) as name_en,
        cast('物流配送时间' as {{ text }}) as name_zh,
        cast('days' as {{ text }}) as unit,
        cast('logistics' as {{ text }}) as team,
        cast('Logistics' as {{ text }}) as team_en,
        cast('物流部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('delivery_days' as {{ text }}) as numerator_measure,
        cast('delivered_orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign,carrier,payment_method' as {{ text }}) as dimensions,
        cast('signoff_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        29 as tree_order
    union all
    -- cod_review_delay
    select
        cast('cod_review_delay' as {{ text }}) as kpi_id,
        cast('COD order review delay' as {{ text }}) as name_en,
        cast('货到付款订单审核时间' as {{ text }}) as name_zh,
        cast('minutes' as {{ text }}) as unit,
        cast('customer_service' as {{ text }}) as team,
        cast('Customer service' as {{ text }}) as team_en,
        cast('客服部' as {{ text }}) as team_zh,
        cast('lower' as {{ text }}) as direction,
        cast('ratio' as {{ text }}) as formula_kind,
        cast('cod_review_minutes' as {{ text }}) as numerator_measure,
        cast('cod_reviewed_orders' as {{ text }}) as denominator_measure,
        cast(1.0 as {{ kpi_double() }}) as scale,
        cast(null as {{ kpi_double() }}) as quantile,
        cast('channel,campaign' as {{ text }}) as dimensions,
        cast('signoff_rate' as {{ text }}) as parent_kpi_id,
        cast('driver' as {{ text }}) as relation_to_parent,
        30 as tree_order
)

select * from nodes
