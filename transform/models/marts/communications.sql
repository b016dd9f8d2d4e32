-- One row per message or call of every channel, in one vocabulary: the union of the channels'
-- staging models (macros/channels.sql lists them; adding a channel is one line there).
{%- set columns = nxcloud_communication_columns() %}

{% for model_name in nxcloud_channel_models() %}
select
    channel || '|' || record_key as communication_id,
    {%- for name, data_type in columns %}
    cast({{ name }} as {{ nxcloud_type(data_type) }}) as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref(model_name) }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
