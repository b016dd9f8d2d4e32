{#-
  The channels of `communications`: one staging model each. Adding a channel is one staging
  model with the communication columns below, plus one line here (and its value in the
  accepted_values and relationships tests of models/marts/schema.yml).
-#}
{% macro nxcloud_channel_models() %}
  {{ return([
      'stg_nxcloud__flash_call_cdrs',
      'stg_nxcloud__cc_cdrs',
      'stg_nxcloud__sms_cdrs',
      'stg_nxcloud__voice_cdrs',
      'stg_nxcloud__sip_cdrs',
      'stg_nxcloud__did_cdrs',
      'stg_nxcloud__email_cdrs',
      'stg_nxcloud__ai_agent_calls',
  ]) }}
{% endmacro %}

{#- The columns every channel's staging model has (same names and meaning; `communications`
    casts them to these types), in the order of `communications`. -#}
{% macro nxcloud_communication_columns() %}
  {{ return([
      ('record_key', 'text'),
      ('account', 'text'),
      ('channel', 'text'),
      ('source_key', 'text'),
      ('direction', 'text'),
      ('from_number', 'text'),
      ('to_number', 'text'),
      ('started_at', 'timestamp'),
      ('succeeded', 'boolean'),
      ('status', 'text'),
      ('vendor_status', 'text'),
      ('duration_seconds', 'decimal(18, 3)'),
      ('billed_units', 'decimal(18, 4)'),
      ('billed_unit', 'text'),
      ('billed_seconds', 'decimal(18, 3)'),
      ('cost', 'decimal(18, 6)'),
      ('currency', 'text'),
  ]) }}
{% endmacro %}

{#- A text key: the SQL expressions `parts` as text, joined with '|' (a null as ''). -#}
{% macro nxcloud_key(parts) -%}
  {%- for part in parts -%}
    coalesce(cast({{ part }} as text), '')
    {%- if not loop.last %} || '|' || {% endif -%}
  {%- endfor -%}
{%- endmacro %}
