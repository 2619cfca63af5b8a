{#
  fct_completion_factors' first step (its header says the method): each state of the basis
  cohorts' rows of every fact that matures (the fact's `history` model: every row's state at
  the end of each day it changed), its age, and the age at which the next state replaced it;
  with the row's member of each of the fact's dimensions (`dim_<dimension>`) and its
  measures (`m_<measure>`). A column another maturing fact has is null on this fact's rows.
  The basis: the newest `basis_days` cohorts that are mature, less those the tree excludes
  (the Spring Festival's window).
#}
{{ kpi_step() }}
{%- set tree = kpi_tree() -%}
{%- set maturity = tree['maturity_days'] -%}
{%- set basis_days = tree['completion']['basis_days'] -%}
{%- set text = dbt.type_string() -%}
{#- the cohorts the pattern keeps: a condition on the column named `@day` -#}
{%- set kept = namespace(sql='') -%}
{%- for first, last in tree['completion']['excluded'] -%}
{%- set kept.sql = kept.sql ~ "\n        and @day not between cast('" ~ first ~ "' as date) and cast('" ~ last ~ "' as date)" -%}
{%- endfor -%}
{%- set maturing = [] -%}
{%- set dims = [] -%}
{%- set measures = [] -%}
{%- for fact_id, fact in tree['facts'].items() if fact['matures'] -%}
{%- do maturing.append((fact_id, fact)) -%}
{%- for dim in fact['dimensions'] if dim not in dims -%}
{%- do dims.append(dim) -%}
{%- endfor -%}
{%- for measure_id, measure in tree['measures'].items() if measure['fact'] == fact_id -%}
{%- do measures.append((measure_id, measure)) -%}
{%- endfor -%}
{%- endfor %}

with

as_of as (
    select
        {{ dbt.dateadd('day', -1 * (maturity + basis_days - 1), 'max(date_day)') }} as basis_first,
        {{ dbt.dateadd('day', -1 * maturity, 'max(date_day)') }} as basis_last
    from {{ ref('fct_base_measures') }}
),

states as (
    {%- for fact_id, fact in maturing %}
    select
        '{{ fact_id }}' as fact_id,
        states.{{ fact['key'] }} as row_key,
        states.{{ fact['date'] }} as cohort_date,
        {{ dbt.datediff('states.' ~ fact['date'], 'states.known_on', 'day') }} as age,
        lead({{ dbt.datediff('states.' ~ fact['date'], 'states.known_on', 'day') }}) over (
            partition by states.{{ fact['key'] }} order by states.known_on, states.updated_at
        ) as next_age,
        {%- for dim in dims %}
        {%- if dim in fact['dimensions'] %}
        coalesce(cast(states.{{ fact['dimensions'][dim] }} as {{ text }}), '(none)') as dim_{{ dim }},
        {%- else %}
        cast(null as {{ text }}) as dim_{{ dim }},
        {%- endif %}
        {%- endfor %}
        {%- for measure_id, measure in measures %}
        {%- if measure['fact'] == fact_id %}
        cast({{ measure['sql'] }} as {{ kpi_exact() }}) as m_{{ measure_id }}
        {%- else %}
        cast(null as {{ kpi_exact() }}) as m_{{ measure_id }}
        {%- endif %}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref(fact['states']) }} as states
    cross join as_of
    where states.{{ fact['date'] }} between as_of.basis_first and as_of.basis_last
        {{- kept.sql | replace('@day', 'states.' ~ fact['date']) }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select * from states
