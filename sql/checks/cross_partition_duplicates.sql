-- cross_partition_duplicates: event_ids of partition D that also sit in another partition
-- (copies that disagree on the time, docs/events.md, Duplicates: both kept, reported).
-- input: silver_event_ids (silver_events of D and its neighbours)
-- params: $1 event_date (D)
-- output: one text column `problem` per event_id
select
    here.event_id || ' also in ' || string_agg(
        distinct there.event_date::varchar, ', ' order by there.event_date::varchar
    ) as problem
from silver_event_ids as here
inner join silver_event_ids as there
    on there.event_id = here.event_id and there.event_date <> here.event_date
where here.event_date = $1
group by here.event_id
