{# A continuous percentile, the one aggregate that is not portable. Adapter-dispatched
   (invariant 10): DuckDB's quantile_cont, Spark's percentile, standard SQL otherwise. #}
{% macro kpi_percentile(expr, q) -%}
    {{ return(adapter.dispatch('kpi_percentile', 'kpi_warehouse')(expr, q)) }}
{%- endmacro %}

{% macro default__kpi_percentile(expr, q) -%}
    percentile_cont({{ q }}) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__kpi_percentile(expr, q) -%}
    quantile_cont({{ expr }}, {{ q }})
{%- endmacro %}

{% macro spark__kpi_percentile(expr, q) -%}
    percentile({{ expr }}, {{ q }})
{%- endmacro %}
