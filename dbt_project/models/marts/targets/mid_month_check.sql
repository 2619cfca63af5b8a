{{ config(materialized='view') }}
-- 月中检: the mid-month check. Every KPI x scope on the check day of each month (the
-- mid_month_day var, from kpi.yaml `targets.mid_month_day`), month to date against its paced
-- target, with what the rest of the month needs.
select * from {{ ref('fct_kpi_vs_target') }}
where is_mid_month_check
