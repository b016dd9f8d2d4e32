{#-
  What the alarms need (docs/operations.md "Alarms"): the warehouse's clock in UTC, hours between
  two instants, and each raw table's load time for `dbt source freshness`.
-#}

{#- Now, as a UTC `timestamp` (without time zone), as the raw and staging times are held. -#}
{% macro nxcloud_utc_now() -%}
  cast(current_timestamp at time zone 'UTC' as timestamp)
{%- endmacro %}

{#- Hours from timestamp `start` to timestamp `end`, a decimal. -#}
{% macro nxcloud_hours_between(start, end) -%}
  ({{ nxcloud_seconds_between(start, end) }} / 3600)
{%- endmacro %}

{#- A dbt var that must be a number, as SQL (a var given as text on the command line or from the
    environment is still checked). -#}
{% macro nxcloud_number_var(name) -%}
  {%- set value = var(name) | string | trim -%}
  {%- if not modules.re.fullmatch('[0-9]+(\\.[0-9]+)?', value) -%}
    {{ exceptions.raise_compiler_error('var ' ~ name ~ ' must be a number of hours or days, not ' ~ value) }}
  {%- endif -%}
  {{ value }}
{%- endmacro %}

{#-
  `loaded_at_query` of every raw table (sources.yml): when the tap last loaded the table, for
  `dbt source freshness`. The latest of:
  - the loader's own load time of the newest batch, `_sdc_batched_at`, where the loader writes it
    (target-postgres does; target-duckdb 0.8.0 does only with add_metadata_columns);
  - the start of the latest run whose `sync_audit` rows name the stream: the tap read the stream to
    its end then, also when nothing new had happened (a quiet stream writes no rows, so its
    `_sdc_batched_at` stands still while every hourly run reads it). For `sync_audit` itself: its
    latest run.
  A stream with no table and no audit row was never configured (its product has no keys): it
  counts as fresh, nothing of it is expected. A table with neither time shows as never loaded.
  Rendered when the freshness runs (`this` is the raw table), not when the project is parsed.
-#}
{% macro nxcloud_loaded_at() %}
  {%- set table = adapter.get_relation(database=this.database, schema=this.schema,
                                       identifier=this.identifier) -%}
  {%- set audit = adapter.get_relation(database=this.database, schema=this.schema,
                                       identifier='sync_audit') -%}
  {%- set loads = [] -%}
  {%- if table is not none -%}
    {%- set batched = nxcloud_source_column(adapter.get_columns_in_relation(table),
                                            ['_sdc_batched_at'], false) -%}
    {%- if batched is not none -%}
      {%- do loads.append('select max(' ~ nxcloud_source_value(batched, 'timestamp')
                          ~ ') as loaded_at from ' ~ table) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if audit is not none -%}
    {%- set columns = adapter.get_columns_in_relation(audit) -%}
    {%- set started = nxcloud_source_column(columns, ['run_started_at'], false) -%}
    {%- set stream = nxcloud_source_column(columns, ['stream'], false) -%}
    {%- if started is not none and stream is not none -%}
      {%- set only = '' if this.identifier | lower == 'sync_audit' else
                     (' where ' ~ adapter.quote(stream.name) ~ " = '" ~ this.identifier ~ "'") -%}
      {%- do loads.append('select max(' ~ nxcloud_source_value(started, 'timestamp')
                          ~ ') as loaded_at from ' ~ audit ~ only) -%}
    {%- endif -%}
  {%- endif -%}
  {%- set never = nxcloud_utc_now() if table is none
                  else "cast('1970-01-01 00:00:00' as timestamp)" -%}
  {%- if loads -%}
    select coalesce(max(loaded_at), {{ never }}) from ({{ loads | join(' union all ') }}) as loads
  {%- else -%}
    select {{ never }}
  {%- endif -%}
{% endmacro %}
