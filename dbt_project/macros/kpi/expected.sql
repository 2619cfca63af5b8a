{#
  What fct_kpi_expected and its two steps (int_kpi_expected_parts, int_kpi_expected_periods)
  read from the tree: the KPIs built on facts that mature (quantiles aside, their expected
  value is not a sum), the measures they are built of (`used`), the dimensions each measure
  has an expected value for (`dims_of`: those of its exposure's fact too, else a carrier
  would have one), and the measures read for them, their exposures included (`read`).
#}
{% macro kpi_expected_plan() -%}
    {%- set tree = kpi_tree() -%}
    {%- set nodes = tree['nodes'] | selectattr('matures') | rejectattr('kind', 'equalto', 'quantile') | list -%}
    {%- set used = [] -%}
    {%- for node in nodes -%}
        {%- for m in [node['numerator'], node['denominator']] if m and m not in used -%}
            {%- do used.append(m) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set dims_of = {} -%}
    {%- for m in used -%}
        {%- set measure = tree['measures'][m] -%}
        {%- set fact_dims = tree['facts'][measure['fact']]['dimensions'] | list -%}
        {%- if measure['exposure'] -%}
            {%- set exposure_dims = tree['facts'][tree['measures'][measure['exposure']]['fact']]['dimensions'] -%}
            {%- do dims_of.update({m: ['total'] + (fact_dims | select('in', exposure_dims) | list)}) -%}
        {%- else -%}
            {%- do dims_of.update({m: ['total'] + fact_dims}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set read = used[:] -%}
    {%- for m in used if tree['measures'][m]['exposure'] and tree['measures'][m]['exposure'] not in read -%}
        {%- do read.append(tree['measures'][m]['exposure']) -%}
    {%- endfor -%}
    {{ return({'nodes': nodes, 'used': used, 'dims_of': dims_of, 'read': read}) }}
{%- endmacro %}
