-- silver_reconciliation: bronze (deduplicated) = silver_events + silver quarantine + duplicates
-- removed, row for row: no bronze row lost, none in both outputs, no silver or quarantine row
-- without its bronze row, no silver row twice.
-- input: bronze_classified (sql/checks/bronze_classified.sql), bronze_events, silver_events,
--        silver_quarantine
-- output: one text column `problem` per violation
select 'bronze ' || message_id || '#' || batch_index
    || ' is in neither silver_events nor quarantine' as problem
from bronze_classified
where not kept and not quarantined and not copy_kept

union all

select 'bronze ' || message_id || '#' || batch_index
    || ' is in both silver_events and quarantine' as problem
from bronze_classified
where kept and quarantined

union all

select 'silver_events ' || event_id || ' (' || message_id || '#' || batch_index
    || ') has no bronze row' as problem
from silver_events as silver
where not exists (
    select 1 from bronze_events as bronze
    where bronze.message_id = silver.message_id and bronze.batch_index = silver.batch_index
)

union all

select 'silver_events ' || message_id || '#' || batch_index || ' appears '
    || count(*) || ' times' as problem
from silver_events
group by message_id, batch_index
having count(*) > 1

union all

select 'quarantine ' || message_id || '#' || batch_index || ' has no bronze row' as problem
from silver_quarantine as quarantine
where not exists (
    select 1 from bronze_events as bronze
    where bronze.message_id = quarantine.message_id
        and bronze.batch_index = quarantine.batch_index
)
