-- dim_items: SCD type 2 over (item_name, item_brand, item_category). A version is a maximal run
-- of identical triples among all of an item's rows in (event_timestamp, event_id) order, so
-- A, B, A is three versions and a late row only splits a version when its triple differs
-- (docs/tables.md, dim_items). NULL attributes compare equal: a missing brand is not a change.
--
-- Sorting every row of all history is what costs, so a hash aggregate first folds the rows into
-- segments (pieces of one run): an item's rows of one UTC day that share one triple are one
-- segment, and a day's rows all come after the previous day's. Only the item-days that change
-- triple within the day, or whose latest instant holds two prices, are ordered row by row.
-- input: fact_event_items (every partition)
with item_rows as not materialized (
    select
        item_id,
        item_name,
        item_brand,
        item_category,
        price,
        event_timestamp,
        event_id,
        event_item_id,
        epoch_us(event_timestamp) // 86400000000 as utc_day,
        -- time first, then price up or down: the latest price, and whether its instant is tied
        epoch_us(event_timestamp)::hugeint * 100000000000000000000 + (price * 100)::hugeint
            as latest_then_highest,
        epoch_us(event_timestamp)::hugeint * 100000000000000000000 - (price * 100)::hugeint
            as latest_then_lowest
    from fact_event_items
),
day_triples as (
    select
        item_id,
        utc_day,
        item_name,
        item_brand,
        item_category,
        min(event_timestamp) as first_seen_at,
        max(event_timestamp) as last_seen_at,
        arg_max(price, latest_then_highest) as last_price,
        arg_max(price, latest_then_lowest) as last_price_if_lowest,
        count(*) over (partition by item_id, utc_day) as triples_that_day
    from item_rows
    group by item_id, utc_day, item_name, item_brand, item_category
),
ordered_days as (
    select item_id, utc_day
    from day_triples
    where triples_that_day > 1 or last_price is distinct from last_price_if_lowest
),
ordered_day_rows as (
    -- row_seq and lag share one window, so they see the rows in the same order
    select
        item_rows.*,
        row_number() over day_order as row_seq,
        row_number() over day_order = 1
            or lag(item_name) over day_order is distinct from item_name
            or lag(item_brand) over day_order is distinct from item_brand
            or lag(item_category) over day_order is distinct from item_category
            as starts_run
    from item_rows
    semi join ordered_days using (item_id, utc_day)
    window day_order as (
        partition by item_id, utc_day order by event_timestamp, event_id, event_item_id
    )
),
ordered_day_segments as (
    select
        item_id,
        utc_day,
        run_no,
        item_name,
        item_brand,
        item_category,
        min(event_timestamp) as first_seen_at,
        max(event_timestamp) as last_seen_at,
        arg_max(price, row_seq) filter (where price is not null) as last_price
    from (
        select
            *,
            sum(starts_run::integer) over (
                partition by item_id, utc_day order by row_seq rows unbounded preceding
            ) as run_no
        from ordered_day_rows
    )
    group by item_id, utc_day, run_no, item_name, item_brand, item_category
),
segments as (
    select
        item_id,
        utc_day,
        1 as run_no,
        item_name,
        item_brand,
        item_category,
        first_seen_at,
        last_seen_at,
        last_price
    from day_triples
    anti join ordered_days using (item_id, utc_day)
    union all
    select * from ordered_day_segments
),
numbered_segments as (
    select
        *,
        row_number() over item_order as segment_seq,
        row_number() over item_order = 1
            or lag(item_name) over item_order is distinct from item_name
            or lag(item_brand) over item_order is distinct from item_brand
            or lag(item_category) over item_order is distinct from item_category
            as starts_version
    from segments
    window item_order as (partition by item_id order by utc_day, run_no)
),
versions as (
    select
        item_id,
        version_no,
        any_value(item_name) as item_name,
        any_value(item_brand) as item_brand,
        any_value(item_category) as item_category,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        arg_max(last_price, segment_seq) filter (where last_price is not null) as last_price
    from (
        select
            *,
            sum(starts_version::integer) over (
                partition by item_id order by segment_seq rows unbounded preceding
            ) as version_no
        from numbered_segments
    )
    group by item_id, version_no
),
chained_versions as (
    select
        *,
        lead(first_seen_at) over (partition by item_id order by version_no) as valid_to,
        -- two versions can start at the same instant (same timestamp, different events)
        row_number() over (
            partition by item_id, first_seen_at order by version_no
        ) as same_start_no
    from versions
)
select
    md5(item_id || '|' || epoch_us(first_seen_at) || '|' || same_start_no) as item_sk,
    item_id,
    item_name,
    item_brand,
    item_category,
    first_seen_at as valid_from,
    valid_to,
    valid_to is null as is_current,
    first_seen_at,
    last_seen_at,
    last_price
from chained_versions
order by item_id, valid_from, item_sk
