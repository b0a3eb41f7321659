-- fact_event_items: one row per silver_items row of the partition, with its session and the
-- list it is credited to (docs/tables.md, fact_event_items). A conversion row without a list of its
-- own takes the list of the same user's latest click on the same item_id at most the
-- attribution window (a week) before.
-- input: items_window (silver_items of event_date $1 minus the attribution lookback .. $1),
--        events_window (silver_events of the same dates), sessions (fact_events of $1)
-- params: $1 event_date, $2 attribution window in hours (business_rules.ATTRIBUTION_WINDOW_HOURS)
-- Only narrow columns flow through the joins; the wide item rows are read once, at the end, so
-- nothing wide is materialised or sorted (a sort of a 1M-event day spilled 5 GB at 1 GB memory).
with day_events as (
    select event_id, event_date, user_id, event_name, event_timestamp
    from events_window
    where event_date = $1
),

unlisted_conversions as (
    select items.item_record_id, day_events.user_id, items.item_id, day_events.event_timestamp
    from items_window as items
    inner join day_events
        on items.event_id = day_events.event_id and items.event_date = day_events.event_date
    where items.event_date = $1
        and day_events.event_name in ('add_to_cart', 'begin_checkout', 'purchase')
        and nullif(items.item_list_name, '') is null
),

-- the week's clicks with a list on what those rows bought, one per (user, item, instant): the
-- latest by (event_id, item_index), so the ASOF join below, which picks the latest instant, has
-- no ties
list_clicks as (
    select
        events.user_id,
        items.item_id,
        events.event_timestamp as clicked_at,
        arg_max(items.item_list_name, struct_pack(items.event_id, items.item_index))
            as clicked_list_name
    from items_window as items
    inner join events_window as events
        on items.event_id = events.event_id and items.event_date = events.event_date
    semi join unlisted_conversions
        on events.user_id = unlisted_conversions.user_id
        and items.item_id = unlisted_conversions.item_id
    where events.event_name = 'select_item' and nullif(items.item_list_name, '') is not null
    group by events.user_id, items.item_id, events.event_timestamp
),

last_clicks as (
    select
        unlisted_conversions.item_record_id,
        list_clicks.clicked_list_name
    from unlisted_conversions
    asof inner join list_clicks
        on unlisted_conversions.user_id = list_clicks.user_id
        and unlisted_conversions.item_id = list_clicks.item_id
        and unlisted_conversions.event_timestamp >= list_clicks.clicked_at
    -- the latest click is the only candidate: if it is too old, every earlier one is too
    where list_clicks.clicked_at >= unlisted_conversions.event_timestamp - to_hours($2::bigint)
)

select
    items.item_record_id as event_item_id,
    items.event_id,
    items.event_date,
    day_events.event_timestamp,
    day_events.user_id,
    sessions.session_id,
    day_events.event_name,
    items.item_id,
    items.item_name,
    items.item_brand,
    items.item_category,
    items.price,
    items.quantity,
    items.price * items.quantity as total_price,
    items.discount_amount,
    coalesce(items.discount_amount, 0) > 0 or coalesce(items.discounts, '') <> '' as has_discount,
    items.in_stock,
    items.item_list_id,
    items.item_list_name,
    items.position_in_list,
    coalesce(nullif(items.item_list_name, ''), last_clicks.clicked_list_name, '(not set)')
        as attributed_item_list_name,
    case
        when nullif(items.item_list_name, '') is not null then 'explicit'
        when last_clicks.clicked_list_name is not null then 'last_click'
        else 'none'
    end as attribution_source
from items_window as items
-- an event_id can sit in two partitions (copies that disagree on the time): match both keys
inner join day_events
    on items.event_id = day_events.event_id and items.event_date = day_events.event_date
left join last_clicks
    on items.item_record_id = last_clicks.item_record_id
left join sessions
    on items.event_id = sessions.event_id
where items.event_date = $1
-- no ORDER BY: R3 asks for the same rows, order aside, and sorting the wide rows was most of
-- this build's time
