-- mart_item_list_daily: per event_date and list, GA4 list views, clicks and the conversions
-- attributed to the list (docs/tables.md). An event belongs to the lists of its item rows, or to
-- its event-level list when it has no items; a missing or empty name is '(not set)'.
-- input: fact_events, fact_event_items (one partition)
with list_item_rows as (
    select
        event_date,
        event_id,
        event_name,
        user_id,
        coalesce(nullif(item_list_name, ''), '(not set)') as list_name,
        coalesce(quantity, 1) as qty
    from fact_event_items
    where event_name in ('view_item_list', 'select_item')
),
event_lists as (
    select distinct event_date, event_id, event_name, user_id, list_name
    from list_item_rows
    union all
    select
        event_date,
        event_id,
        event_name,
        user_id,
        coalesce(nullif(item_list_name, ''), '(not set)') as list_name
    from fact_events
    where event_name in ('view_item_list', 'select_item')
        and not exists (
            select 1 from fact_event_items where fact_event_items.event_id = fact_events.event_id
        )
),
list_events as (
    select
        event_date,
        list_name,
        count(*) filter (where event_name = 'view_item_list') as list_view_events,
        count(distinct user_id) filter (where event_name = 'view_item_list') as list_viewers,
        count(*) filter (where event_name = 'select_item') as list_click_events,
        count(distinct user_id) filter (where event_name = 'select_item') as list_clickers
    from event_lists
    group by event_date, list_name
),
list_rows as (
    select
        event_date,
        list_name,
        count(*) filter (where event_name = 'view_item_list') as item_impressions,
        sum(qty) filter (where event_name = 'select_item') as items_clicked
    from list_item_rows
    group by event_date, list_name
),
attributed_rows as (
    select
        event_date,
        coalesce(nullif(attributed_item_list_name, ''), '(not set)') as list_name,
        sum(coalesce(quantity, 1)) filter (where event_name = 'add_to_cart')
            as attributed_add_to_cart_items,
        sum(coalesce(quantity, 1)) filter (where event_name = 'begin_checkout')
            as attributed_checkout_items,
        sum(coalesce(quantity, 1)) filter (where event_name = 'purchase')
            as attributed_purchased_items,
        sum(total_price) filter (where event_name = 'purchase') as attributed_revenue,
        count(distinct user_id) filter (where event_name = 'purchase') as attributed_purchasers
    from fact_event_items
    where event_name in ('add_to_cart', 'begin_checkout', 'purchase')
    group by event_date, list_name
),
-- every list of a view or click event, plus every list credited with a conversion
daily_lists as (
    select event_date, list_name from list_events
    union
    select event_date, list_name from attributed_rows
),
counts as (
    select
        daily_lists.event_date,
        daily_lists.list_name as item_list_name,
        coalesce(list_view_events, 0) as list_view_events,
        coalesce(list_viewers, 0) as list_viewers,
        coalesce(item_impressions, 0) as item_impressions,
        coalesce(list_click_events, 0) as list_click_events,
        coalesce(list_clickers, 0) as list_clickers,
        coalesce(items_clicked, 0) as items_clicked,
        coalesce(attributed_add_to_cart_items, 0) as attributed_add_to_cart_items,
        coalesce(attributed_checkout_items, 0) as attributed_checkout_items,
        coalesce(attributed_purchased_items, 0) as attributed_purchased_items,
        coalesce(attributed_revenue, 0) as attributed_revenue,
        coalesce(attributed_purchasers, 0) as attributed_purchasers
    from daily_lists
    left join list_events using (event_date, list_name)
    left join list_rows using (event_date, list_name)
    left join attributed_rows using (event_date, list_name)
)
select
    *,
    list_clickers::double / nullif(list_viewers, 0) as click_through_rate,
    items_clicked::double / nullif(item_impressions, 0) as item_click_rate
from counts
order by event_date, item_list_name
