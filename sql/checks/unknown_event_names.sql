-- unknown_event_names: event names outside the known list, with how many events carry each.
-- input: silver_events
-- params: $1 the known event names (a list)
-- output: one text column `problem` per unknown name
select '''' || event_name || ''' (' || count(*) || ' events)' as problem
from silver_events
where not list_contains($1, event_name)
group by event_name
