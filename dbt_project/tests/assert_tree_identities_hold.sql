{#
  Every exact identity of the tree (kpi_tree/tree.yaml) holds in the built numbers, at every
  grain, period, dimension and member where the parent and all its children have a value:
  a product parent equals the product of its product children, a sum parent the sum of its
  sum children (relative tolerance 1e-9). Returns the rows where one does not. A period in
  which a source of one of them is missing on some day (missing_days, fct_source_gaps) is
  computed over different days on each side and flagged incomplete: it is not judged.
#}
{%- set tree = kpi_tree() -%}
{%- set identities = [] -%}
{%- for parent in tree['nodes'] -%}
{%- for relation in ['product', 'sum'] -%}
{%- set kids = tree['nodes']
    | selectattr('parent', 'equalto', parent['id'])
    | selectattr('relation', 'equalto', relation)
    | list -%}
{%- if kids -%}{%- do identities.append((parent, relation, kids)) -%}{%- endif -%}
{%- endfor -%}
{%- endfor %}

with

kpi as (
    -- a windowed run checks the periods it rebuilt
    select * from {{ ref('fct_kpi_values') }}
    where {{ kpi_periods_in_window('grain', 'period_start', tree['maturity_days']) }}
),

checks as (
    {%- for parent, relation, kids in identities %}
    select
        p.grain,
        p.period_start,
        p.dimension,
        p.member,
        '{{ parent['id'] }}' as parent_kpi,
        '{{ relation }}' as relation,
        p.value as parent_value,
        {% for kid in kids -%}
        c{{ loop.index }}.value{{ (' * ' if relation == 'product' else ' + ') if not loop.last }}
        {%- endfor %} as children_value
    from kpi as p
    {% for kid in kids -%}
    inner join kpi as c{{ loop.index }}
        on p.grain = c{{ loop.index }}.grain
        and p.period_start = c{{ loop.index }}.period_start
        and p.dimension = c{{ loop.index }}.dimension
        and p.member = c{{ loop.index }}.member
        and c{{ loop.index }}.kpi_id = '{{ kid['id'] }}'
    {% endfor -%}
    where
        p.kpi_id = '{{ parent['id'] }}'
        and p.value is not null
        and p.missing_days = 0
        {%- for kid in kids %}
        and c{{ loop.index }}.value is not null
        and c{{ loop.index }}.missing_days = 0
        {%- endfor %}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

final as (
    select * from checks
    where
        abs(parent_value - children_value)
        > 1e-9 * (case when abs(parent_value) > 1 then abs(parent_value) else 1 end)
)

select * from final
