-- dim_users: one row per user over all time: first and last sighting, platforms, sessions,
-- events, purchases and purchase revenue (refunds are not subtracted; docs/tables.md, dim_users).
-- input: fact_events, fact_event_items (every partition)
with user_events as (
    select
        user_id,
        min(event_timestamp) as first_seen_at,
        max(event_timestamp) as last_seen_at,
        arg_min(platform, (event_timestamp, event_id)) as first_platform,
        arg_max(platform, (event_timestamp, event_id)) as last_platform,
        count(distinct session_id) as total_sessions,
        count(*) as total_events,
        count(*) filter (where event_name = 'purchase') as total_purchases
    from fact_events
    group by user_id
),
user_revenue as (
    select user_id, sum(total_price) as total_revenue
    from fact_event_items
    where event_name = 'purchase'
    group by user_id
)
select
    md5(user_events.user_id) as user_sk,
    user_events.user_id,
    first_seen_at,
    last_seen_at,
    first_platform,
    last_platform,
    total_sessions,
    total_events,
    total_purchases,
    coalesce(total_revenue, 0) as total_revenue
from user_events
left join user_revenue on user_revenue.user_id = user_events.user_id
order by user_events.user_id
