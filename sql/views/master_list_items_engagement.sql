-- master_list_items_engagement: every item row shown or acted on in a named list, with its event's
-- context (docs/tables.md). A copy of an event that disagrees on the time sits in another
-- partition, so the join also matches the date to keep one event row per item row.
-- input: fact_event_items, fact_events
select
    items.event_item_id,
    items.event_id,
    items.item_id,
    items.item_name,
    items.item_list_name,
    items.item_list_id,
    items.item_category,
    items.item_brand,
    items.price,
    items.total_price,
    items.quantity,
    items.position_in_list,
    items.has_discount,
    items.discount_amount,
    items.in_stock,
    events.event_timestamp,
    events.user_id,
    events.session_id,
    events.event_date,
    events.event_hour,
    events.processed_at as processed_at_fact_events
from fact_event_items as items
inner join fact_events as events
    on events.event_id = items.event_id and events.event_date = items.event_date
where items.item_list_name is not null
