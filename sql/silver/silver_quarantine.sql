-- silver_quarantine: the bronze events of the partition that break the contract, each with the
-- first rule it breaks (docs/events.md, Validity). Replaced as a whole with the partition.
-- input: silver_checked
select
    message_id,
    received_at,
    batch_index,
    event_date,
    reason,
    detail,
    raw,
    'silver' as stage
from silver_checked
where reason is not null
