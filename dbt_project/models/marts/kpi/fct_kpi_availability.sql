{#
  Which KPIs the shop can compute: one row per node of the tree with the sources it reads
  (kpi_tree/tree.yaml: its measures' facts and their `needs`, derived by Tree.node_sources)
  and those of them the shop has never delivered (no row in stg_shop__source_days). A KPI
  with a missing source is not available: its values are null, with the reason, in
  fct_kpi_values; no gate, pace or alert judges it.
#}
{%- set tree = kpi_tree() -%}
{%- set text = dbt.type_string() -%}

with

delivered as (
    select distinct source from {{ ref('stg_shop__source_days') }}
),

-- every source each node reads, in the tree's order of sources, with the names a reason uses
needs as (
{%- set rows = [] -%}
{%- for node in tree['nodes'] -%}
    {%- for src in tree['sources'] if src['id'] in node['sources'] -%}
        {%- do rows.append((node['id'], src, loop.index)) -%}
    {%- endfor -%}
{%- endfor %}
{%- for kpi_id, src, position in rows %}
    select
        cast('{{ kpi_id }}' as {{ text }}) as kpi_id,
        cast('{{ src['id'] }}' as {{ text }}) as source,
        {{ position }} as source_order,
        cast('{{ src['en'] | replace("'", "''") }}' as {{ text }}) as name_en,
        cast('{{ src['zh'] | replace("'", "''") }}' as {{ text }}) as name_zh
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

missing as (
    select
        needs.kpi_id,
        {{ dbt.listagg('needs.source', "','", 'order by needs.source_order') }} as missing_sources,
        {{ dbt.listagg('needs.name_en', "', '", 'order by needs.source_order') }} as names_en,
        {{ dbt.listagg('needs.name_zh', "'、'", 'order by needs.source_order') }} as names_zh
    from needs
    left join delivered on needs.source = delivered.source
    where delivered.source is null
    group by needs.kpi_id
),

nodes as (
{%- for node in tree['nodes'] %}
    select
        cast('{{ node['id'] }}' as {{ text }}) as kpi_id,
        cast('{{ node['team'] }}' as {{ text }}) as team,
        cast('{{ node['sources'] | join(',') }}' as {{ text }}) as sources
    {{ 'union all' if not loop.last }}
{%- endfor %}
),

final as (
    select
        nodes.kpi_id,
        nodes.team,
        nodes.sources,
        missing.missing_sources,
        missing.kpi_id is null as is_available,
        case when missing.kpi_id is not null then 'needs ' || missing.names_en end as reason_en,
        case when missing.kpi_id is not null then '需要' || missing.names_zh || '数据' end
            as reason_zh
    from nodes
    left join missing on nodes.kpi_id = missing.kpi_id
)

select * from final
