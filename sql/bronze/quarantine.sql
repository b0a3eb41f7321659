-- quarantine: every message or event that failed the contract, once. Ingestion may record a
-- redelivered bad message twice; silver rewrites its own records per partition.
-- input: quarantine_parts (ingest and silver quarantine files)
select *
from quarantine_parts
qualify row_number() over (
    partition by message_id, coalesce(batch_index, -1), stage
    order by received_at
) = 1
