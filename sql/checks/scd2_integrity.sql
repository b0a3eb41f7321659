-- scd2_integrity: dim_items keeps one current version per item, is_current iff valid_to is
-- NULL, valid_from < valid_to, and each version ends where the next begins (no overlap, no gap).
-- input: dim_items
-- output: one text column `problem` per violation
with versions as (
    select
        *,
        lead(valid_from) over (partition by item_id order by valid_from, item_sk) as next_from
    from dim_items
)

select 'item ' || item_id || ' has ' || count(*) filter (is_current)
    || ' current versions' as problem
from dim_items
group by item_id
having count(*) filter (is_current) <> 1

union all

select 'version ' || item_sk || ' of ' || item_id || ': is_current = '
    || coalesce(is_current::varchar, 'NULL') || ' but valid_to = '
    || coalesce(valid_to::varchar, 'NULL') as problem
from versions
where is_current is distinct from (valid_to is null)

union all

select 'version ' || item_sk || ' of ' || item_id || ' ends at ' || valid_to::varchar
    || ', not after its start ' || valid_from::varchar as problem
from versions
where valid_to <= valid_from

union all

select 'version ' || item_sk || ' of ' || item_id || ' valid_to '
    || coalesce(valid_to::varchar, 'NULL') || case
        when valid_to is null or valid_to > next_from then ' overlaps'
        else ' leaves a gap before'
    end || ' the next version from ' || next_from::varchar as problem
from versions
where next_from is not null and valid_to is distinct from next_from
