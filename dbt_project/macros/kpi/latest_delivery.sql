{#
  Staging models that keep each key's latest delivery (orders, order lines, conversations)
  are incremental tables. A windowed run re-derives only the keys it can have changed: the
  keys delivered in the run's partitions, and the keys whose kept delivery came from one of
  those partitions (ingestion replaced them). For those keys the latest of their deliveries
  replaces the kept row (delete+insert on the key); a key with no delivery left is deleted.
  The rest of the history is not read again.

      {{ kpi_latest_delivery_config('orders', ['order_id']) }}        -- the model's config
      source as ({{ kpi_deliveries_to_rank(source('shop', 'orders'), ['order_id']) }}),

  The model keeps the winning delivery's `_partition_date` as `delivered_on`. Keys must be
  non-null (the contracts require it). With `in_ranges` in both, a first build over many
  deliveries runs in ranges of the first key (macros/kpi/build_ranges.sql).
#}
{% macro kpi_latest_delivery_config(source_name, keys, in_ranges=false) -%}
{%- if in_ranges %}
{{ kpi_first_build_in_ranges(keys[0], "source('shop', '" ~ source_name ~ "')") }}
{%- endif %}
{{ kpi_incremental_by_key(keys, [{'source': source_name, 'keys': keys}]) }}
{%- endmacro %}

{#
  Deletes the kept rows of the window (`delivered_on` in the run's window) that can no longer
  be derived because one of `lookups` misses; `keys` is this table's unique key. Each lookup
  names a relation ({'source': name} in the shop's sources, or {'ref': model}) and the
  columns, named alike in both tables, that must find a row there.

  The lookup relation is read only for the window's values, and in two parts: its own
  deliveries in the window (a few partitions), then the rest of it only for the values those
  did not find. On a night for the newest day every value is found in the first part and the
  second costs nothing. A plain `not exists` against the whole relation hashes every key of
  the history, and a lookup of the window's values in the whole relation still reads every
  row of it: either way a night would grow with the history.
#}
{% macro kpi_delete_vanished_keys(keys, lookups) -%}
{%- set on_gone, misses = [], [] -%}
{%- for k in keys -%}
    {%- do on_gone.append('gone.' ~ k ~ ' = t.' ~ k) -%}
{%- endfor -%}
delete from {{ this }} t using (
    select {% for k in keys %}k.{{ k }}{{ ', ' if not loop.last }}{% endfor %}
    from {{ this }} k
    {%- for lookup in lookups %}
    {%- set relation = source('shop', lookup['source']) if 'source' in lookup else ref(lookup['ref']) -%}
    {%- set delivered = 's._partition_date' if 'source' in lookup else 's.delivered_on' -%}
    {%- set cols = lookup['keys'] -%}
    {%- set col_list -%}{% for c in cols %}s.{{ c }}{{ ', ' if not loop.last }}{% endfor %}{%- endset -%}
    {%- set alias = 'found_' ~ loop.index -%}
    {%- set window_values -%}
        select {% for c in cols %}w.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
        from {{ this }} w
        where {{ kpi_in_window('w.delivered_on') }}
    {%- endset -%}
    {%- set found_in_window -%}
        select distinct {{ col_list }}
        from {{ relation }} s
        where {{ kpi_in_window(delivered) }} and ({{ col_list }}) in ({{ window_values }})
    {%- endset -%}
    {%- do misses.append(alias ~ '.' ~ cols[0] ~ ' is null') %}
    left join (
        {{ found_in_window }}
        union
        select distinct {{ col_list }}
        from {{ relation }} s
        where not ({{ kpi_in_window(delivered) }})
          and ({{ col_list }}) in ({{ window_values }} except {{ found_in_window }})
    ) {{ alias }} on {% for c in cols %}{{ alias }}.{{ c }} = k.{{ c }}{{ ' and ' if not loop.last }}{% endfor %}
    {%- endfor %}
    where {{ kpi_in_window('k.delivered_on') }} and ({{ misses | join(' or ') }})
) gone
where {{ on_gone | join(' and ') }} and {{ kpi_in_window('t.delivered_on') }}
{%- endmacro %}

{#
  The deliveries a windowed run ranks (every delivery on a first build), in three disjoint
  parts, so that a night reads its own partitions and not the whole history:

  - the window's deliveries;
  - later deliveries of the keys delivered in the window, or kept from it (a rerun of an
    older day: a later delivery still wins);
  - earlier deliveries of the keys kept from the window (a rerun that took their delivery
    back: the one before it wins again). A key delivered in the window needs none: the
    window's delivery beats every earlier one.

  On a night for the newest day the last two are empty and cost nothing: partitions after
  the window do not exist yet, and no kept row comes from a day not built before. Reading
  every delivery of the affected keys instead would scan the whole source every night.

  The earlier deliveries are read only from the least kept key on (a join on the first key
  column with the one-row range of the kept keys, which DuckDB checks against each row
  group's min/max). A rerun of the newest day keeps every key of the window, and without the
  bound the lookup of their earlier deliveries reads the whole source. Where keys follow the
  days (a shop's order numbers do), the bound leaves all but the last row groups out. On a
  new night no key is kept from the window and the range has no row, so the source is not
  read at all: a bound written as `key >= (select min(...))` is null then, and DuckDB reads
  every row of the source before the empty lookup discards them.

  A first build reads every delivery; with `in_ranges`, in ranges of the first key when there
  are many (macros/kpi/build_ranges.sql). Only the conversations' staging asks for ranges:
  the orders' and order lines' ranking fits the memory limit in one query, and ranges only
  added their overhead there (docs/performance.md).
#}
{% macro kpi_deliveries_to_rank(source_relation, keys, in_ranges=false) -%}
{%- set key_list = keys | join(', ') -%}
{%- if is_incremental() -%}
    {%- set kept_from_window = kpi_window_keys(this, key_list) -%}
    select * from {{ source_relation }}
    where {{ kpi_in_window('_partition_date') }}
    union all
    select * from {{ source_relation }}
    where _partition_date > {{ kpi_window_end() }}
      and ({{ key_list }}) in (
        select {{ key_list }} from {{ source_relation }}
        where {{ kpi_in_window('_partition_date') }}
        union
        {{ kept_from_window }}
      )
    union all
    select earlier.* from {{ source_relation }} as earlier
    inner join (
        select min(kpi_key) as least_key
        from ({{ kpi_window_keys(this, keys[0]) }}) as kept_keys (kpi_key)
        having min(kpi_key) is not null
    ) as kept_range on earlier.{{ keys[0] }} >= kept_range.least_key
    where earlier._partition_date < {{ kpi_window_start() }}
      and ({% for k in keys %}earlier.{{ k }}{{ ', ' if not loop.last }}{% endfor %}) in ({{ kept_from_window }})
{%- else -%}
    select * from {{ source_relation }}
    {%- if in_ranges %}
    where {{ kpi_build_range(keys[0]) }}
    {%- endif %}
{%- endif -%}
{%- endmacro %}
