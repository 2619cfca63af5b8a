{#
  A step of a model, in a model of its own so that the model reading it can use it many
  times (int_kpi_expected_parts and _periods for fct_kpi_expected). DuckDB keeps it a CTE of
  that model (ephemeral: the model's SQL as it was, and DuckDB computes a CTE used many times
  once). Spark computes a deterministic CTE again at each use, and these are used tens to
  hundreds of times over (each KPI reads every grain's periods, each grain every measure's
  parts): a table there.

      {{ kpi_step() }}   -- at the top of the step's model
#}
{% macro kpi_step() -%}
{{ adapter.dispatch('kpi_step', 'kpi_warehouse')() }}
{%- endmacro %}

{% macro default__kpi_step() -%}
{{ config(materialized='ephemeral') }}
{%- endmacro %}

{% macro spark__kpi_step() -%}
{{ config(materialized='table', file_format='parquet') }}
{%- endmacro %}
