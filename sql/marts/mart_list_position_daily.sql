-- mart_list_position_daily: per event_date, list and position, item impressions and clicks
-- (docs/tables.md), so the position effect can be told apart from the list. An item row belongs to
-- its own list (after the event-level fallback; missing or empty is '(not set)'), as in
-- mart_item_list_daily; rows without a position are left out.
-- input: fact_event_items (one partition)
with positioned_rows as (
    select
        event_date,
        coalesce(nullif(item_list_name, ''), '(not set)') as item_list_name,
        position_in_list,
        event_name,
        coalesce(quantity, 1) as qty
    from fact_event_items
    where event_name in ('view_item_list', 'select_item')
        and position_in_list is not null
),
counts as (
    select
        event_date,
        item_list_name,
        position_in_list,
        count(*) filter (where event_name = 'view_item_list') as item_impressions,
        coalesce(sum(qty) filter (where event_name = 'select_item'), 0) as item_clicks
    from positioned_rows
    group by event_date, item_list_name, position_in_list
)
select
    *,
    item_clicks::double / nullif(item_impressions, 0) as item_click_rate
from counts
order by event_date, item_list_name, position_in_list
