{#-
  The common part of every staging model: read one raw stream table and keep the latest version
  of each key, with the columns named and typed as the model's schema.yml says.

  Each column of the model's schema.yml that carries `config: meta: source:` (a stream field, or a
  list of field names, newest name first) is read from the raw table through
  nxcloud_source_column and cast to the column's `data_type`; `meta: default_var:` names a dbt var
  used when the field is absent or null (the `account` column when the tap's `account` setting
  was not set), and `meta: blank_is_null: true` counts an empty text as null too (sync_audit's
  `account` is '' for a single unnamed account). Columns without `meta.source` are the model's own
  derived columns.

  When the raw table does not exist (a stream never loaded) the result is empty, with the same
  columns, so that every model and test still builds.
-#}

{#- The raw relation of `stream` if it exists in the warehouse, else none. -#}
{% macro nxcloud_existing_relation(stream) %}
  {%- set declared = source('nxcloud', stream) -%}
  {%- if not execute -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return(adapter.get_relation(database=declared.database, schema=declared.schema,
                                 identifier=declared.identifier)) }}
{% endmacro %}

{#- The mapped columns of the calling model's schema.yml: [{name, fields, type, default,
    snake_case, blank_is_null}], in schema.yml order. -#}
{% macro nxcloud_mapped_columns() %}
  {%- set mapped = [] -%}
  {%- for name, column in model.columns.items() -%}
    {%- set meta = (column.get('config') or {}).get('meta') or column.get('meta') or {} -%}
    {%- if meta.get('source') is not none -%}
      {%- if not column.get('data_type') -%}
        {{ exceptions.raise_compiler_error(model.name ~ '.' ~ name ~ ': meta.source needs a data_type') }}
      {%- endif -%}
      {%- do mapped.append({
          'name': name,
          'fields': [meta.source] if meta.source is string else meta.source,
          'type': column.data_type,
          'default': var(meta.default_var) if meta.get('default_var') else none,
          'snake_case': meta.get('snake_case', true),
          'blank_is_null': meta.get('blank_is_null', false)}) -%}
    {%- endif -%}
  {%- endfor -%}
  {{ return(mapped) }}
{% endmacro %}

{#- Select of the latest version of each `key` (staging column names) of raw `stream`.
    `newest_first`: staging columns whose larger value marks the newer version of a row (nulls
    count as oldest), after the loader's own metadata (_sdc_batched_at, ...) when present. -#}
{% macro nxcloud_latest(stream, key, newest_first=[]) %}
  {%- set declared = source('nxcloud', stream) -%}
  {%- set relation = nxcloud_existing_relation(stream) -%}
  {%- set raw_columns = adapter.get_columns_in_relation(relation) if relation is not none else [] -%}
  {%- set columns = nxcloud_mapped_columns() -%}
  {%- if execute and columns | length == 0 -%}
    {{ exceptions.raise_compiler_error(model.name ~ ': no column of schema.yml has meta.source') }}
  {%- endif -%}
  {%- set values = {} -%}
  {%- for column in columns -%}
    {%- set found = nxcloud_source_column(raw_columns, column.fields, column.snake_case) -%}
    {%- set fallback = ("'" ~ column.default ~ "'") if column.default is not none else 'null' -%}
    {%- if found is not none -%}
      {%- set read = nxcloud_source_value(found, column.type) -%}
      {%- if column.blank_is_null -%}
        {%- set read = 'nullif(' ~ read ~ ", '')" -%}
      {%- endif -%}
    {%- endif -%}
    {%- if found is none -%}
      {%- set value = 'cast(' ~ fallback ~ ' as ' ~ nxcloud_type(column.type) ~ ')' -%}
    {%- elif column.default is not none -%}
      {%- set value = 'coalesce(' ~ read ~ ', ' ~ fallback ~ ')' -%}
    {%- else -%}
      {%- set value = read -%}
    {%- endif -%}
    {%- do values.update({column.name: value}) -%}
  {%- endfor -%}
  {%- set order = [] -%}
  {%- for meta_field in ['_sdc_batched_at', '_sdc_extracted_at', '_sdc_received_at', '_sdc_sequence'] -%}
    {%- set found = nxcloud_source_column(raw_columns, [meta_field], false) -%}
    {%- if found is not none -%}
      {%- do order.append(adapter.quote(found.name) ~ ' desc nulls last') -%}
    {%- endif -%}
  {%- endfor -%}
  {%- for name in newest_first -%}
    {%- do order.append(values.get(name, 'null') ~ ' desc nulls last') -%}
  {%- endfor -%}
  {%- set partition = [] -%}
  {%- for name in key -%}
    {%- do partition.append(values.get(name, 'null')) -%}
  {%- endfor %}
    select
      {%- for column in columns %}
        {{ column.name }}{{ ',' if not loop.last }}
      {%- endfor %}
    from (
        select
          {%- for column in columns %}
            {{ values[column.name] }} as {{ column.name }},
          {%- endfor %}
            row_number() over (
                partition by {{ partition | join(', ') }}
                {%- if order %}
                order by {{ order | join(', ') }}
                {%- endif %}
            ) as nxcloud_version
    {%- if relation is not none %}
        from {{ declared }}
    {%- else %}
        {#- {{ declared }} does not exist (stream not loaded yet): no rows #}
        where 1 = 0
    {%- endif %}
    ) as versions
    where nxcloud_version = 1
{%- endmacro %}
