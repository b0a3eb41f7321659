-- silver_events: one row per valid, de-duplicated event of the partition (docs/tables.md).
-- input: silver_checked, silver_kept
select
    event_id,
    message_id,
    batch_index,
    received_at,
    event_timestamp,
    event_date,
    user_id,
    user_pseudo_id,
    event_name,
    platform,
    app_version,
    item_list_id,
    item_list_name,
    currency,
    value,
    transaction_id,
    search_term,
    event_params,
    coalesce(len(items), 0) as item_count
from silver_checked
semi join silver_kept using (message_id, batch_index)
