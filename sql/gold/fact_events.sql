-- fact_events: one row per silver_events row of the partition, with its session (docs/tables.md,
-- fact_events). Per user, ordered by (event_timestamp, event_id), a session starts at the first
-- event or after a gap longer than the session gap (30 minutes). Reading the day before lets a
-- session cross midnight; a session whose start lies further back is split at the window's
-- first event.
-- input: events_window (silver_events of event_date $1 - 1 .. $1)
-- params: $1 event_date, $2 business time zone, $3 session gap in seconds
--         (business_rules.SESSION_GAP_SECONDS)
with user_timelines as (
    select
        *,
        lag(event_timestamp) over (
            partition by user_id order by event_timestamp, event_id
        ) as previous_timestamp
    from events_window
),

session_starts as (
    select
        *,
        case
            when previous_timestamp is null
                or epoch_us(event_timestamp) - epoch_us(previous_timestamp) > $3::bigint * 1000000
                -- a JSON array encodes the first event unambiguously, so ids never collide
                then md5(json_array(user_id, event_id, epoch_us(event_timestamp))::varchar)
        end as started_session_id
    from user_timelines
),

sessionized_events as (
    select
        *,
        last_value(started_session_id ignore nulls) over (
            partition by user_id order by event_timestamp, event_id
            rows between unbounded preceding and current row
        ) as session_id
    from session_starts
),

-- the latest receipt among the inputs: the same on every re-run, unlike the wall clock (R3)
watermark as (
    select max(received_at) as processed_at
    from events_window
)

select
    sessionized_events.event_id,
    sessionized_events.user_id,
    sessionized_events.session_id,
    sessionized_events.event_name,
    sessionized_events.event_timestamp,
    sessionized_events.event_date,
    hour(timezone($2, sessionized_events.event_timestamp)) as event_hour,
    sessionized_events.platform,
    sessionized_events.item_list_name,
    sessionized_events.transaction_id,
    sessionized_events.value,
    sessionized_events.currency,
    watermark.processed_at
from sessionized_events
cross join watermark
where sessionized_events.event_date = $1
-- no ORDER BY: R3 asks for the same rows, order aside
