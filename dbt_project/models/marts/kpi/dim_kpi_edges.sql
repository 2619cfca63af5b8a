{# The tree's edges: parent -> child, with the relation (product / sum identity, or driver). #}
with

nodes as (
    select * from {{ ref('dim_kpi_nodes') }}
),

final as (
    select
        parent_kpi_id,
        kpi_id as child_kpi_id,
        relation_to_parent as relation,
        relation_to_parent in ('product', 'sum') as is_identity
    from nodes
    where parent_kpi_id is not null
)

select * from final
