-- session_violations: the session rule (docs/tables.md, fact_events) re-derived from fact_events.
-- Per user, in (event_timestamp, event_id) order, consecutive events further apart than the session
-- gap must be in different sessions, and events at most the gap apart in the same one, unless that
-- run of events reaches back to the user's first event in the window: it may have started before
-- D-1 and so have been active for more than 24 h, which docs/tables.md allows to be split.
-- input: sessions_window (fact_events of $1 - 1 .. $1)
-- params: $1 event_date (D), $2 session gap in seconds
-- output: one text column `problem` per violation
with ordered_events as (
    select
        user_id,
        event_id,
        event_date,
        event_timestamp,
        session_id,
        epoch_us(event_timestamp) - epoch_us(lag(event_timestamp) over timeline) as gap_us,
        lag(event_id) over timeline as previous_event_id,
        lag(event_date) over timeline as previous_date,
        lag(session_id) over timeline as previous_session_id
    from sessions_window
    window timeline as (partition by user_id order by event_timestamp, event_id)
),

numbered_runs as (
    select
        *,
        -- runs of events without a gap, counted from the user's first event in the window
        sum(case when gap_us is null or gap_us > $2::bigint * 1000000 then 1 else 0 end) over (
            partition by user_id order by event_timestamp, event_id
            rows unbounded preceding
        ) as run_no
    from ordered_events
)

select
    'user ' || user_id || ': ' || previous_event_id || ' and ' || event_id
    || case
        when previous_session_id = session_id then ' are '
            || (gap_us // 1000000) || ' s apart but share session ' || session_id
        else ' are ' || (gap_us // 1000000) || ' s apart but in sessions '
            || previous_session_id || ' and ' || session_id
    end as problem
from numbered_runs
where event_date = $1
    and gap_us is not null
    and (
        (gap_us > $2::bigint * 1000000 and previous_session_id = session_id)
        or (
            gap_us <= $2::bigint * 1000000
            and previous_session_id <> session_id
            and (previous_date = event_date or run_no > 1)
        )
    )
