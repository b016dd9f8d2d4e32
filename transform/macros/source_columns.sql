{#-
  How a Singer loader names and types the fields of a stream in its table. This file is the ONE
  place that knows the loaders' differences; every staging model reads raw columns through it.

  - target-duckdb 0.8.0 lower-cases every name (gmtCreate -> gmtcreate); DuckDB identifiers are
    case-insensitive anyway. Date-times land as TIMESTAMP holding the UTC instant.
  - meltanolabs target-postgres 0.8.1 keeps the field's name as a quoted identifier ("gmtCreate").
    Date-times land as `timestamp without time zone` holding UTC (the loader runs with PGTZ=UTC).

  The column is looked up in the relation's actual columns, so a loader that changes its naming
  (lower-case, as sent, or snake_case) keeps working: the adapter decides the order of the
  candidates and whether case matters.
-#}

{#- The quoted column of `relation_columns` (adapter Column objects) that holds the first of
    `fields` (stream field names as in schemas/*.json, newest name first) found, or none.
    snake_case=false skips the snake_case spelling (when it would hit another field, as
    voiceType -> voice_type does). -#}
{% macro nxcloud_source_column(relation_columns, fields, snake_case=true) %}
  {{ return(adapter.dispatch('nxcloud_source_column', 'nxcloud')(relation_columns, fields, snake_case)) }}
{% endmacro %}

{% macro default__nxcloud_source_column(relation_columns, fields, snake_case) %}
  {#- an unknown adapter: as sent, then lower-case, then snake_case; case-insensitive -#}
  {{ return(nxcloud__find_column(relation_columns, fields, snake_case, case_sensitive=false)) }}
{% endmacro %}

{% macro duckdb__nxcloud_source_column(relation_columns, fields, snake_case) %}
  {#- target-duckdb: lower-cased names; DuckDB matches identifiers case-insensitively -#}
  {{ return(nxcloud__find_column(relation_columns, fields, snake_case, case_sensitive=false)) }}
{% endmacro %}

{% macro postgres__nxcloud_source_column(relation_columns, fields, snake_case) %}
  {#- target-postgres: the field's own name, case-sensitive (quoted camelCase) -#}
  {{ return(nxcloud__find_column(relation_columns, fields, snake_case, case_sensitive=true)) }}
{% endmacro %}

{% macro nxcloud__find_column(relation_columns, fields, snake_case, case_sensitive) %}
  {%- set present = {} -%}
  {%- for column in relation_columns -%}
    {%- do present.update({(column.name if case_sensitive else column.name | lower): column}) -%}
  {%- endfor -%}
  {%- for field in fields -%}
    {%- set spellings = [field, field | lower] -%}
    {%- if snake_case -%}
      {%- do spellings.append(modules.re.sub('([a-z0-9])([A-Z])', '\\1_\\2', field) | lower) -%}
    {%- endif -%}
    {%- for spelling in spellings -%}
      {%- set found = present.get(spelling if case_sensitive else spelling | lower) -%}
      {%- if found is not none -%}
        {{ return(found) }}
      {%- endif -%}
    {%- endfor -%}
  {%- endfor -%}
  {{ return(none) }}
{% endmacro %}

{#- A raw column's value as a staging value of `data_type` (the column's data_type in schema.yml:
    text, bigint, integer, boolean, timestamp, json, decimal(p,s)). Date-times become a UTC
    `timestamp` whatever the loader stored: a UTC timestamp as it stands, a timestamp with time
    zone at UTC, a text RFC 3339 value parsed with its offset. A `date` stored as a date-time is
    the platform's calendar day (var platform_timezone) of that instant. An array stored as the
    database's own array type (target-postgres: text[], jsonb[]) becomes a JSON array. -#}
{% macro nxcloud_source_value(column, data_type) %}
  {%- set quoted = adapter.quote(column.name) -%}
  {%- set stored = (column.dtype or '') | lower -%}
  {%- if data_type == 'date' and stored.startswith('timestamp') -%}
    {#- a day stored as a date-time (the platform's midnight as a UTC instant): its platform day -#}
    {%- set utc = (quoted ~ " at time zone 'UTC'") if ('with time zone' in stored or stored == 'timestamptz') else quoted -%}
    cast({{ nxcloud_utc_to_zone(utc, var('platform_timezone')) }} as date)
  {%- elif data_type == 'json' and (stored == 'array' or stored.endswith('[]')) -%}
    {{ nxcloud_array_to_json(quoted) }}
  {%- elif data_type == 'timestamp' and ('with time zone' in stored or stored == 'timestamptz') -%}
    ({{ quoted }} at time zone 'UTC')
  {%- elif data_type == 'timestamp' and not stored.startswith('timestamp') and stored != 'date' -%}
    (cast({{ quoted }} as {{ nxcloud_type('timestamptz') }}) at time zone 'UTC')
  {%- else -%}
    cast({{ quoted }} as {{ nxcloud_type(data_type) }})
  {%- endif -%}
{% endmacro %}
