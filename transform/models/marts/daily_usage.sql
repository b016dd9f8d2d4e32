-- Per account, channel and day: how many messages and calls, how many delivered or answered,
-- how long, how many billed units and what they cost. Every day twice: as a UTC day
-- (day_zone 'UTC') and as a day of the platform's zone (var platform_timezone, the tap's
-- `timezone`). For SMS in the platform's zone, the SMS app's own daily statement
-- (stg_nxcloud__sms_daily_reports, the stream sms_daily_reports) beside our figures, on the days
-- it covers.
{%- set zone = var('platform_timezone') %}
{%- set zones = ['UTC'] if zone == 'UTC' else ['UTC', zone] %}

with communications as (
    select * from {{ ref('communications') }}
),

days as (
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
        succeeded,
        duration_seconds,
        billed_units,
        billed_unit,
        billed_seconds,
        cost,
        currency
    from communications
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

usage as (
    select
        account,
        channel,
        day_zone,
        day,
        count(*) as communication_count,
        cast(sum(case when succeeded then 1 when not succeeded then 0 end) as bigint)
            as succeeded_count,
        sum(duration_seconds) as duration_seconds,
        sum(billed_seconds) as billed_seconds,
        sum(billed_units) as billed_units,
        max(billed_unit) as billed_unit,
        sum(cost) as cost,
        max(currency) as currency
    from days
    group by account, channel, day_zone, day
),

vendor as (
    select
        account,
        cast('sms' as text) as channel,
        cast('{{ zone }}' as text) as day_zone,
        report_date as day,
        submit_size,
        success_size,
        price_size,
        total_fee
    from {{ ref('stg_nxcloud__sms_daily_reports') }}
),

joined as (
    select
        coalesce(usage.account, vendor.account) as account,
        coalesce(usage.channel, vendor.channel) as channel,
        coalesce(usage.day_zone, vendor.day_zone) as day_zone,
        coalesce(usage.day, vendor.day) as day,
        coalesce(usage.communication_count, 0) as communication_count,
        usage.succeeded_count,
        usage.duration_seconds,
        usage.billed_seconds,
        usage.billed_units,
        usage.billed_unit,
        usage.cost,
        usage.currency,
        vendor.submit_size as vendor_submitted_count,
        vendor.success_size as vendor_succeeded_count,
        vendor.price_size as vendor_billed_units,
        vendor.total_fee as vendor_cost
    from usage
    full outer join vendor
        on usage.account = vendor.account
        and usage.channel = vendor.channel
        and usage.day_zone = vendor.day_zone
        and usage.day = vendor.day
)

select
    {{ nxcloud_key(['account', 'channel', 'day_zone', 'day']) }} as daily_usage_key,
    joined.*
from joined
