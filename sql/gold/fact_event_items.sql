-- fact_event_items: one row per silver_items row of the partition, with its session and the
-- list it is credited to (TABLES.md, List attribution). A conversion row without a list of its
-- own takes the list of the same user's latest click on the same item_id at most 168 h before.
-- input: items_window (silver_items of event_date $1 - 7 .. $1), events_window (silver_events
--        of the same dates), sessions (fact_events of $1)
-- params: $1 event_date
with partition_items as (
    select
        items.*,
        nullif(items.item_list_name, '') as own_list_name,
        events.user_id,
        events.event_name,
        events.event_timestamp
    from items_window as items
    -- an event_id can sit in two partitions (copies that disagree on the time): match both keys
    inner join events_window as events
        on items.event_id = events.event_id and items.event_date = events.event_date
    where items.event_date = $1 and events.event_date = $1
),

unlisted_conversions as (
    select item_record_id, user_id, item_id, event_timestamp
    from partition_items
    where event_name in ('add_to_cart', 'begin_checkout', 'purchase') and own_list_name is null
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
    where list_clicks.clicked_at >= unlisted_conversions.event_timestamp - interval 168 hours
)

select
    partition_items.item_record_id as event_item_id,
    partition_items.event_id,
    partition_items.event_date,
    partition_items.event_timestamp,
    partition_items.user_id,
    sessions.session_id,
    partition_items.event_name,
    partition_items.item_id,
    partition_items.item_name,
    partition_items.item_brand,
    partition_items.item_category,
    partition_items.price,
    partition_items.quantity,
    partition_items.price * partition_items.quantity as total_price,
    partition_items.discount_amount,
    coalesce(partition_items.discount_amount, 0) > 0
        or coalesce(partition_items.discounts, '') <> '' as has_discount,
    partition_items.in_stock,
    partition_items.item_list_id,
    partition_items.item_list_name,
    partition_items.position_in_list,
    coalesce(
        partition_items.own_list_name, last_clicks.clicked_list_name, '(not set)'
    ) as attributed_item_list_name,
    case
        when partition_items.own_list_name is not null then 'explicit'
        when last_clicks.clicked_list_name is not null then 'last_click'
        else 'none'
    end as attribution_source
from partition_items
left join last_clicks
    on partition_items.item_record_id = last_clicks.item_record_id
left join sessions
    on partition_items.event_id = sessions.event_id
-- a fixed row order keeps the file byte-identical on re-runs (R3)
order by partition_items.item_record_id
