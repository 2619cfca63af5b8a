{#
  The shop's vocabulary (kpi.yaml `vocabulary:`, kpi_tree/vocabulary.py): the members of its
  channels, carriers, payment methods and topics, and their roles. The Dagster steps pass it
  as the var `kpi_vocabulary`; without it (a `dbt build` by hand) the default vocabulary,
  generated with the tree's macro (kpi_tree/dbt_export.py). No model or test types a member.

  Lists: channels, paid_channels, carriers, payment_methods, cod_payment_methods, topics, and
  topic_roles (role -> its topics).
#}
{% macro kpi_vocabulary() -%}
    {{ return(var('kpi_vocabulary', none) or kpi_default_vocabulary()) }}
{%- endmacro %}

{% macro kpi_members(name) -%}
    {%- set vocabulary = kpi_vocabulary() -%}
    {%- if name not in vocabulary -%}
        {{ exceptions.raise_compiler_error("no list '" ~ name ~ "' in the vocabulary: one of "
                                           ~ (vocabulary.keys() | list | join(', '))) }}
    {%- endif -%}
    {{ return(vocabulary[name]) }}
{%- endmacro %}

{# a SQL list of the members ('a', 'b'); the members are lowercase words (kpi.yaml refuses others) #}
{% macro kpi_member_list(members) -%}
    ({%- for member in members -%}'{{ member }}'{{ ', ' if not loop.last }}{%- endfor -%})
{%- endmacro %}

{# a condition: `column` is a member of the list `name` (false when the list is empty) #}
{% macro kpi_is_member(column, name) -%}
    {%- set members = kpi_members(name) -%}
    {%- if members -%}{{ column }} in {{ kpi_member_list(members) }}{%- else -%}false{%- endif -%}
{%- endmacro %}

{# the role of the topic in `column` (presale, aftersale, order_review), null for none #}
{% macro kpi_topic_role(column) -%}
    {%- set roles = kpi_members('topic_roles') -%}
    {%- set named = [] -%}
    {%- for role, topics in roles.items() if topics -%}{%- do named.append(role) -%}{%- endfor -%}
    {%- if named -%}
    case
        {%- for role in named %}
        when {{ column }} in {{ kpi_member_list(roles[role]) }} then '{{ role }}'
        {%- endfor %}
    end
    {%- else -%}
    cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}
