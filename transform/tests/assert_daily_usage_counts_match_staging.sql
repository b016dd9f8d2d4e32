-- daily_usage counts, per account, channel, zone and day, equal the rows of the channels'
-- staging models (each row of a staging model is one message or call). Returns the mismatches.
{%- set zone = var('platform_timezone') %}
{%- set zones = ['UTC'] if zone == 'UTC' else ['UTC', zone] %}

with staged as (
    {%- for model_name in nxcloud_channel_models() %}
    {%- set outer_loop = loop %}
    {%- for day_zone in zones %}
    select
        account,
        channel,
        '{{ day_zone }}' as day_zone,
        {%- if day_zone == 'UTC' %}
        cast(started_at as date) as day,
        {%- else %}
        cast({{ nxcloud_utc_to_zone('started_at', day_zone) }} as date) as day,
        {%- endif %}
        count(*) as staged_count
    from {{ ref(model_name) }}
    group by 1, 2, 3, 4
    {% if not (outer_loop.last and loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}
),

usage as (
    select account, channel, day_zone, day, communication_count
    from {{ ref('daily_usage') }}
    where communication_count > 0
)

select
    coalesce(staged.account, usage.account) as account,
    coalesce(staged.channel, usage.channel) as channel,
    coalesce(staged.day_zone, usage.day_zone) as day_zone,
    coalesce(staged.day, usage.day) as day,
    staged.staged_count,
    usage.communication_count
from staged
full outer join usage
    on staged.account = usage.account
    and staged.channel = usage.channel
    and staged.day_zone = usage.day_zone
    and staged.day = usage.day
where staged.staged_count is distinct from usage.communication_count
