-- bronze_classified: each bronze row of the partition with where silver put it: kept in
-- silver_events, quarantined, or a removed duplicate (not kept itself, but silver keeps its
-- event_id; a row without an event_id gets the same derived id silver gives it).
-- input: bronze_events (the bronze read model), silver_events, silver_quarantine
select
    bronze.message_id,
    bronze.batch_index,
    exists (
        select 1 from silver_events as silver
        where silver.message_id = bronze.message_id and silver.batch_index = bronze.batch_index
    ) as kept,
    exists (
        select 1 from silver_quarantine as quarantine
        where quarantine.message_id = bronze.message_id
            and quarantine.batch_index = bronze.batch_index
    ) as quarantined,
    exists (
        select 1 from silver_events as silver
        where silver.event_id = coalesce(
            try(json_extract_string(bronze.raw, '$.event_id')),
            md5(bronze.message_id || ':' || bronze.batch_index)
        )
    ) as copy_kept
from bronze_events as bronze
