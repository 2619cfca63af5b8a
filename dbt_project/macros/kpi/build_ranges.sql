{#
  A first build in key ranges. The models that keep one row per key rank or join every row of
  their history on a first build (a year's backfill), and one query over all of it outgrows
  the memory limit: its window sorts and joins spill to disk, many times the table's size.
  A range of the key fits in memory, so the ranges together are cheaper than the one query.
  The orders' and order lines' staging gain nothing from ranges (their one query does not
  spill much), and are built in one query; docs/performance.md has the measurements.

  A model asks for it in its config, naming its key and the relation whose rows decide the
  ranges (a Jinja expression, rendered when the hook runs), and marks where its first build
  reads its history, in the branch a windowed run does not take:

      {{ kpi_first_build_in_ranges('shipment_id', "ref('stg_shop__shipments')") }}
      ...
      select {{ columns }} from {{ ref('stg_shop__shipments') }}
      where {{ kpi_build_range('shipment_id') }}

  When the table is first created and the relation holds more than KPI_BUILD_RANGE_ROWS rows
  (an environment variable read when the model runs; 5,000,000 unless set, 0 turns ranges
  off), the model's pre-hook sets the first range, dbt-duckdb creates the table from the
  model's SQL as for any model, and the post-hook inserts each next range into it by the same
  SQL, in the same transaction. The ranges are quantiles of the key in a sample of the
  relation, one per KPI_BUILD_RANGE_ROWS rows; every mark of the model is given the same
  range, and a null key falls in the first.

  The mark reads its range from DuckDB variables, which DuckDB binds as constants: each
  range's statement is planned as if its bounds were written in it, and skips the row groups
  outside them. Without the hooks (a `dbt show`, the compiled SQL run by hand) the variables
  are unset and the mark holds for every row. Variables belong to a DuckDB connection, and
  dbt-duckdb gives each thread its own: models built side by side do not share them. The two
  hooks cost a night a statement each per model. On another adapter the mark is `1 = 1` and the
  config adds nothing: each table is built in one query.

  The model must be such that its rows of a range of the key derive only from rows whose key
  is in that range (a window or a group by the key, a join on it, a lookup of other tables).
  tests/test_kpi_values.py builds the sample shop in ranges of a quarter of its orders and
  compares every table with the build in one query.
#}
{% macro kpi_first_build_in_ranges(column, relation) -%}
{{ adapter.dispatch('kpi_first_build_in_ranges', 'kpi_warehouse')(column, relation) }}
{%- endmacro %}

{% macro default__kpi_first_build_in_ranges(column, relation) -%}{%- endmacro %}

{% macro duckdb__kpi_first_build_in_ranges(column, relation) -%}
{{ config(
    pre_hook="{{ kpi_build_ranges_begin('" ~ column ~ "', " ~ relation ~ ") }}",
    post_hook="{{ kpi_build_ranges_rest() }}"
) }}
{%- endmacro %}

{% macro kpi_build_range(column) -%}
{{ adapter.dispatch('kpi_build_range', 'kpi_warehouse')(column) }}
{%- endmacro %}

{% macro default__kpi_build_range(column) -%}
    (1 = 1)
{%- endmacro %}

{% macro duckdb__kpi_build_range(column) -%}
    {%- set low, high = "getvariable('kpi_build_range_low')", "getvariable('kpi_build_range_high')" -%}
    (({{ column }} >= {{ low }} or {{ low }} is null)
        and ({{ column }} < {{ high }} or {{ high }} is null or ({{ column }} is null and {{ low }} is null)))
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
  The bounds between the key ranges of a first build over `relation`, as SQL literals of the
  key's type, in order: [] when it is built in one query (a small relation, or ranges turned
  off).
-#}
{% macro kpi_build_range_bounds(column, relation) -%}
    {%- set per_range = kpi_build_range_rows() -%}
    {%- if per_range <= 0 -%}{{ return([]) }}{%- endif -%}
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

{#-
  The pre-hook: the ranges of a first build, kept in the connection's variables for the
  post-hook, and the first range for the model's own statement. Run on every build, so that
  a build without ranges never reads another model's.
-#}
{% macro kpi_build_ranges_begin(column, relation) -%}
    {%- set bounds = kpi_build_range_bounds(column, relation) if execute and not is_incremental() else [] -%}
    {%- if bounds -%}
        {%- do log(model['name'] ~ ': first build in ' ~ (bounds | length + 1) ~ ' key ranges', info=true) -%}
    {%- endif %}
    set variable kpi_build_range_bounds = {{ ('[' ~ bounds | join(', ') ~ ']') if bounds else 'null' }};
    set variable kpi_build_range_low = null;
    set variable kpi_build_range_high = {{ bounds[0] if bounds else 'null' }};
{%- endmacro %}

{#- The post-hook: each range after the first, inserted by the model's SQL; then no range -#}
{% macro kpi_build_ranges_rest() -%}
    {%- set ranges = 1 -%}
    {%- if execute -%}
        {%- set bounds = run_query("select coalesce(len(getvariable('kpi_build_range_bounds')), 0)") -%}
        {%- set ranges = bounds.columns[0].values()[0] + 1 -%}
    {%- endif -%}
    {%- for i in range(1, ranges) %}
    set variable kpi_build_range_low = getvariable('kpi_build_range_bounds')[{{ i }}];
    set variable kpi_build_range_high = getvariable('kpi_build_range_bounds')[{{ i + 1 }}];
    insert into {{ this }} select * from (
        {{ compiled_code }}
    ) as kpi_build_range;
    {%- endfor %}
    {%- if ranges > 1 %}
    set variable kpi_build_range_bounds = null;
    set variable kpi_build_range_low = null;
    set variable kpi_build_range_high = null;
    {%- endif %}
{%- endmacro %}
