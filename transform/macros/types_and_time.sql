{#- Portable SQL the models need, per adapter. -#}

{#- A staging data_type (schema.yml) as this adapter's type. -#}
{% macro nxcloud_type(data_type) %}
  {{ return(adapter.dispatch('nxcloud_type', 'nxcloud')(data_type)) }}
{% endmacro %}

{% macro default__nxcloud_type(data_type) %}
  {{ return({'timestamptz': 'timestamp with time zone'}.get(data_type, data_type)) }}
{% endmacro %}

{% macro postgres__nxcloud_type(data_type) %}
  {#- target-postgres stores objects as jsonb -#}
  {{ return({'json': 'jsonb', 'timestamptz': 'timestamp with time zone'}.get(data_type, data_type)) }}
{% endmacro %}

{#- A UTC `timestamp` as the wall-clock `timestamp` of IANA zone `zone` (DST included). -#}
{% macro nxcloud_utc_to_zone(ts, zone) %}
  {{ return(adapter.dispatch('nxcloud_utc_to_zone', 'nxcloud')(ts, zone)) }}
{% endmacro %}

{% macro default__nxcloud_utc_to_zone(ts, zone) -%}
  (({{ ts }} at time zone 'UTC') at time zone '{{ zone }}')
{%- endmacro %}

{#- Seconds from timestamp `start` to timestamp `end` (a decimal; null when either is null). -#}
{% macro nxcloud_seconds_between(start, end) %}
  {{ return(adapter.dispatch('nxcloud_seconds_between', 'nxcloud')(start, end)) }}
{% endmacro %}

{% macro default__nxcloud_seconds_between(start, end) -%}
  cast(extract(epoch from ({{ end }} - {{ start }})) as decimal(18, 3))
{%- endmacro %}

{#- A value of the database's own array type as a JSON array. -#}
{% macro nxcloud_array_to_json(value) %}
  {{ return(adapter.dispatch('nxcloud_array_to_json', 'nxcloud')(value)) }}
{% endmacro %}

{% macro default__nxcloud_array_to_json(value) -%}
  to_json({{ value }})
{%- endmacro %}

{% macro postgres__nxcloud_array_to_json(value) -%}
  to_jsonb({{ value }})
{%- endmacro %}
