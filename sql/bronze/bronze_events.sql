-- bronze_events: one row per (message_id, batch_index). Ingestion appends one file per landing
-- batch, so a redelivered or re-routed message can sit in two files; the earliest recorded
-- receipt wins (EVENTS.md, Duplicates).
-- input: bronze_parts (every bronze file of the partitions being read)
select *
from bronze_parts
qualify row_number() over (
    partition by message_id, batch_index
    order by received_at, landing_batch
) = 1
