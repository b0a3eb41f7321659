-- unknown_platform_share: the partition's events, and those whose platform is UNKNOWN.
-- input: silver_events
select count(*) as events, count(*) filter (platform = 'UNKNOWN') as unknown_platform_events
from silver_events
