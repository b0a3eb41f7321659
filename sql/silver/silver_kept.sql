-- silver_kept: the copy kept of each event_id among the valid events of the partition: the first
-- received, by (received_at, message_id, batch_index) (docs/events.md, Duplicates). Invalid copies
-- do not compete. Only the keys, so that the window stays small.
-- input: silver_checked
select
    message_id,
    batch_index
from silver_checked
where reason is null
qualify row_number() over (
    partition by event_id
    order by received_at, message_id, batch_index
) = 1
