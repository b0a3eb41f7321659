-- mart_product_daily_metrics: per event_date and item, the GA4 e-commerce funnel
-- (docs/tables.md). Names and categories are joined at query time by the mart_product_daily view.
-- input: fact_event_items (one partition)
with funnel_rows as (
    select event_date, item_id, event_name, user_id, coalesce(quantity, 1) as qty, total_price
    from fact_event_items
    where event_name in (
        'view_item_list', 'select_item', 'view_item', 'add_to_cart', 'begin_checkout', 'purchase'
    )
),
item_counts as (
    select
        event_date,
        item_id,
        count(*) filter (where event_name = 'view_item_list') as impressions,
        coalesce(sum(qty) filter (where event_name = 'select_item'), 0) as clicks,
        coalesce(sum(qty) filter (where event_name = 'view_item'), 0) as items_viewed,
        coalesce(sum(qty) filter (where event_name = 'add_to_cart'), 0) as items_added_to_cart,
        coalesce(sum(qty) filter (where event_name = 'begin_checkout'), 0) as items_checked_out,
        coalesce(sum(qty) filter (where event_name = 'purchase'), 0) as items_purchased,
        coalesce(sum(total_price) filter (where event_name = 'purchase'), 0) as item_revenue
    from funnel_rows
    group by event_date, item_id
),
-- distinct users per step, deduplicated once: cheaper than three count(distinct) per item
user_steps as (
    select distinct event_date, item_id, event_name, user_id
    from funnel_rows
    where event_name in ('view_item', 'add_to_cart', 'purchase')
),
item_users as (
    select
        event_date,
        item_id,
        count(*) filter (where event_name = 'view_item') as viewers,
        count(*) filter (where event_name = 'add_to_cart') as cart_adders,
        count(*) filter (where event_name = 'purchase') as purchasers
    from user_steps
    group by event_date, item_id
),
counts as (
    select
        item_counts.*,
        coalesce(viewers, 0) as viewers,
        coalesce(cart_adders, 0) as cart_adders,
        coalesce(purchasers, 0) as purchasers
    from item_counts
    left join item_users using (event_date, item_id)
)
select
    *,
    clicks::double / nullif(impressions, 0) as click_through_rate,
    cart_adders::double / nullif(viewers, 0) as cart_to_view_rate,
    purchasers::double / nullif(viewers, 0) as purchase_to_view_rate
from counts
order by event_date, item_id
