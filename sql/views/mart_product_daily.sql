-- mart_product_daily: the daily product funnel with the item's CURRENT name, brand and category,
-- joined at query time so a rename shows on every date (docs/tables.md, mart_product_daily).
-- input: mart_product_daily_metrics, dim_items
select
    metrics.event_date,
    metrics.item_id,
    current_items.item_name,
    current_items.item_brand,
    current_items.item_category,
    metrics.impressions,
    metrics.clicks,
    metrics.click_through_rate,
    metrics.items_viewed,
    metrics.items_added_to_cart,
    metrics.items_checked_out,
    metrics.items_purchased,
    metrics.item_revenue,
    metrics.viewers,
    metrics.cart_adders,
    metrics.purchasers,
    metrics.cart_to_view_rate,
    metrics.purchase_to_view_rate
from mart_product_daily_metrics as metrics
left join dim_items as current_items
    on current_items.item_id = metrics.item_id and current_items.is_current
