{#
  A first build in key ranges. The models that keep one row per key rank or join every row of
  their history on a first build (a year's backfill), and one query over all of it outgrows
  the memory limit: its window sorts and joins spill to disk, many times the table's size.
  A range of the key fits in memory, so the ranges together are cheaper than the one query.
  The orders' and order lines' staging gain nothing from ranges (their one query does not
  spill much), and are built in one query; docs/performance.md has the measurements.

  A model marks where its first build reads its history, in the branch a windowed run does
  not take:

      select {{ columns }} from {{ ref('stg_shop__shipments') }}
      where {{ kpi_build_range('shipment_id', ref('stg_shop__shipments')) }}

  The mark is a no-op (`1 = 1`) in the compiled SQL. When the table is first created and the
  marked relation holds more than KPI_BUILD_RANGE_ROWS rows (an environment variable read
  when the model runs; 5,000,000 unless set, 0 turns ranges off), `create table as` becomes
  one statement per range of the key: the first creates the table, each next inserts into it,
  in the same transaction. The ranges are quantiles of the key in a sample of the relation,
  one per KPI_BUILD_RANGE_ROWS rows; every mark of the model is given the same range, and a
  null key falls in the first.

  The model must be such that its rows of a range of the key derive only from rows whose key
  is in that range (a window or a group by the key, a join on it, a lookup of other tables).
  tests/test_kpi_values.py builds the sample shop in ranges of a quarter of its orders and compares
  every table with the build in one query.
#}
{% macro kpi_build_range(column, relation) -%}
    (1 = 1 /* kpi_build_range {{ column }} in {{ relation }} */)
{%- endmacro %}

{#- rows per range of a first build; 0 or less: no ranges -#}
{% macro kpi_build_range_rows() -%}
    {%- set value = env_var('KPI_BUILD_RANGE_ROWS', '') | trim -%}
    {%- if value and not modules.re.match('^-?[0-9]+$', value) -%}
        {{ exceptions.raise_compiler_error("KPI_BUILD_RANGE_ROWS='" ~ value ~ "' is not a whole number of rows") }}
    {%- endif -%}
    {{ return((value or 5000000) | int) }}
{%- endmacro %}

{#-
  The bounds between the key ranges of `compiled_code`'s first build, as SQL literals of the
  key's type, in order: [] when it is built in one query (no mark, a small relation, or ranges
  turned off). Read from the first mark's relation.
-#}
{% macro kpi_build_range_bounds(compiled_code) -%}
    {%- set marks = modules.re.findall('/\\* kpi_build_range (\\w+) in (.+?) \\*/', compiled_code) -%}
    {%- set per_range = kpi_build_range_rows() -%}
    {%- if not marks or per_range <= 0 -%}{{ return([]) }}{%- endif -%}
    {%- set column, relation = marks[0] -%}
    {%- set rows = run_query('select count(*) from ' ~ relation).columns[0].values()[0] | int -%}
    {%- if rows <= per_range -%}{{ return([]) }}{%- endif -%}
    {%- set n = [((rows + per_range - 1) // per_range), 64] | min -%}
    {%- set fractions = [] -%}
    {%- for i in range(1, n) -%}{%- do fractions.append(i / n) -%}{%- endfor -%}
    {#- a sample of about 200,000 rows (DuckDB's system sample takes whole vectors of rows) -#}
    {%- set percent = [100.0, 100.0 * 200000 / rows] | min -%}
    {%- set bounds_sql -%}
        select '''' || replace(bound::varchar, '''', '''''') || '''::' || typeof(bound) as literal
        from (
            select unnest(list_sort(list_distinct(
                quantile_disc({{ column }}, [{{ fractions | join(', ') }}])
            ))) as bound
            from {{ relation }} using sample {{ percent }}% (system)
        )
        order by bound
    {%- endset -%}
    {{ return(run_query(bounds_sql).columns[0].values() | list) }}
{%- endmacro %}

{#- `compiled_code` with each mark given the range between `low` and `high` (none: open) -#}
{% macro kpi_in_build_range(compiled_code, low, high) -%}
    {%- set marks = modules.re.findall('\\(1 = 1 /\\* kpi_build_range (\\w+) in .+? \\*/\\)', compiled_code) -%}
    {%- set ns = namespace(sql=compiled_code) -%}
    {%- for column in marks | unique -%}
        {%- set parts = [] -%}
        {%- if low is not none -%}{%- do parts.append(column ~ ' >= ' ~ low) -%}{%- endif -%}
        {%- if high is not none -%}{%- do parts.append(column ~ ' < ' ~ high) -%}{%- endif -%}
        {%- set predicate = '(' ~ (parts | join(' and ')) ~ (' or ' ~ column ~ ' is null' if low is none else '') ~ ')' -%}
        {%- set ns.sql = modules.re.sub(
            '\\(1 = 1 /\\* kpi_build_range ' ~ column ~ ' in .+? \\*/\\)',
            predicate | replace('\\', '\\\\'),
            ns.sql
        ) -%}
    {%- endfor -%}
    {{ return(ns.sql) }}
{%- endmacro %}

{#
  dbt-duckdb's create_table_as, with the first build of a marked model in key ranges. Every
  other table (a windowed run's new rows, a model without a mark, a table with a contract,
  partitioning or sort order) is created by dbt-duckdb's own macro.
#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set bounds = [] -%}
    {%- if execute and language == 'sql' and not temporary and not partitioned_by and not sorted_by
          and not config.get('contract').enforced and not config.get('sql_header')
          and not is_incremental() -%}
        {%- set bounds = kpi_build_range_bounds(compiled_code) -%}
    {%- endif -%}
    {%- if not bounds -%}
        {{ return(dbt.duckdb__create_table_as(temporary, relation, compiled_code, language, partitioned_by=partitioned_by, sorted_by=sorted_by)) }}
    {%- endif -%}
    {%- set edges = [none] + bounds + [none] -%}
    {%- do log(model['name'] ~ ': first build in ' ~ (edges | length - 1) ~ ' key ranges', info=true) -%}
    {%- for i in range(edges | length - 1) %}
    {%- set ranged = kpi_in_build_range(compiled_code, edges[i], edges[i + 1]) %}
    {%- if loop.first %}
    create table {{ relation }} as (
        {{ ranged }}
    );
    {%- else %}
    insert into {{ relation }} select * from (
        {{ ranged }}
    ) as kpi_build_range;
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
