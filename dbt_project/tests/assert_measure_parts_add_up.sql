{# A measure declared as the sum of parts (kpi_tree/tree.yaml `parts`) equals their sum on
   every day, dimension and member. #}
{%- set tree = kpi_tree() -%}
{%- set with_parts = [] -%}
{%- for measure_id, measure in tree['measures'].items() if measure['parts'] -%}
{%- do with_parts.append((measure_id, measure['parts'])) -%}
{%- endfor %}

with

base as (
    -- a windowed run checks the days it rebuilt
    select * from {{ ref('fct_base_measures') }}
    where {{ kpi_in_window('date_day', tree['maturity_days']) }}
),

checks as (
    {%- if not with_parts %}
    select
        null as date_day,
        null as dimension,
        null as member,
        null as measure_id,
        0 as whole,
        0 as parts_sum
    where 1 = 0
    {%- endif %}
    {%- for measure_id, parts in with_parts %}
    select
        whole.date_day,
        whole.dimension,
        whole.member,
        '{{ measure_id }}' as measure_id,
        whole.value as whole,
        (
            select sum(part.value) from base as part
            where
                part.measure_id in (
                    {%- for p in parts %}'{{ p }}'{{ ', ' if not loop.last }}{% endfor -%}
                )
                and part.date_day = whole.date_day
                and part.dimension = whole.dimension
                and part.member = whole.member
        ) as parts_sum
    from base as whole
    where whole.measure_id = '{{ measure_id }}'
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

final as (
    select * from checks
    where
        abs(whole - coalesce(parts_sum, 0))
        > 1e-9 * (case when abs(whole) > 1 then abs(whole) else 1 end)
)

select * from final
