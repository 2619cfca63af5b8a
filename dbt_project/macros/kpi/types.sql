{# A 64-bit float. kpi_double() is FLOAT, which is 32 bits on DuckDB: too coarse for
   money and for identities checked to 1e-9. #}
{% macro kpi_double() -%}
    {{ return(adapter.dispatch('kpi_double', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro default__kpi_double() -%}double{%- endmacro %}

{% macro postgres__kpi_double() -%}double precision{%- endmacro %}

{# Base measures are exact decimals: sums of them do not depend on the order rows are added,
   so a rerun gives the very same numbers (floating-point sums in a parallel engine do not). #}
{% macro kpi_exact() -%}decimal(38, 6){%- endmacro %}

{# The value of `value` on the row where `by` is smallest, as an aggregate: min_by in DuckDB,
   Spark and Trino; Postgres has none (a window function would do there). #}
{% macro kpi_min_by(value, by) -%}
    {{ return(adapter.dispatch('kpi_min_by', 'kpi_warehouse')(value, by)) }}
{%- endmacro %}

{% macro default__kpi_min_by(value, by) -%}min_by({{ value }}, {{ by }}){%- endmacro %}

{# The number of distinct non-null values of `column` in each group, as an aggregate. DuckDB
   keeps a grouped count(distinct) in a second hash table of every (group, value) pair, which
   over a year's order lines outgrows the memory limit and spills; counting each group's list
   of values needs no second table, and the lists of a basket are short. Other adapters keep
   count(distinct). #}
{% macro kpi_count_distinct(column) -%}
    {{ return(adapter.dispatch('kpi_count_distinct', 'kpi_warehouse')(column)) }}
{%- endmacro %}

{% macro default__kpi_count_distinct(column) -%}count(distinct {{ column }}){%- endmacro %}

{% macro duckdb__kpi_count_distinct(column) -%}list_unique(list({{ column }})){%- endmacro %}
