-- silver_checked: every bronze event of the partition, its JSON parsed once, checked against
-- docs/events.md (Validity: the first broken rule gives reason and detail; bronze has already
-- checked the time, rules 3 and 4), with its event-level fields flattened and its items read.
-- silver_kept, silver_events, silver_items and the silver quarantine are all read from it.
-- input: bronze_events; macros: silver_macros
with parsed as (
    select
        message_id,
        batch_index,
        received_at,
        event_date,
        event_timestamp,
        raw,
        from_json(raw, event_json_schema()) as e
    from bronze_events
),

with_items as (
    select
        *,
        e.items as items,
        -- items present but not an array; the substring test spares a second parse of nearly
        -- every event
        case
            when e.items is null and contains(raw, '"items"')
                then json_kind(nullif(json_extract(raw, '$.items'), 'null'))
        end as items_kind
    from parsed
),

checked as (
    select
        *,
        case
            when e.event_name is null or e.event_name = '""'
                then {'reason': 'missing_field', 'detail': 'event_name is absent, null or empty'}
            when e.event_timestamp is null or e.event_timestamp = '""'
                then {'reason': 'missing_field', 'detail': 'event_timestamp is absent, null or empty'}
            when e.user_id is null or e.user_id = '""'
                then {'reason': 'missing_field', 'detail': 'user_id is absent, null or empty'}
            when json_kind(e.event_name) <> 'string'
                then {'reason': 'invalid_type', 'detail': 'event_name is ' || json_kind_excerpt(e.event_name)}
            when json_kind(e.user_id) <> 'string'
                then {'reason': 'invalid_type', 'detail': 'user_id is ' || json_kind_excerpt(e.user_id)}
            when json_kind(e.event_timestamp) not in ('string', 'integer')
                then {
                    'reason': 'invalid_type',
                    'detail': 'event_timestamp is ' || json_kind_phrase(e.event_timestamp)
                        || ', not a string or integer'
                }
            when e.event_id is not null and json_kind(e.event_id) <> 'string'
                then {'reason': 'invalid_type', 'detail': 'event_id is ' || json_kind_phrase(e.event_id)}
            when e.event_id is not null and length(json_string(e.event_id)) not between 1 and 128
                then {
                    'reason': 'invalid_type',
                    'detail': 'event_id has ' || length(json_string(e.event_id)) || ' characters, not 1..128'
                }
            when length(json_string(e.user_id)) > 128
                then {
                    'reason': 'invalid_type',
                    'detail': 'user_id has ' || length(json_string(e.user_id)) || ' characters (> 128)'
                }
            when params_fault(e.event_params, 'event_params') is not null
                then {'reason': 'invalid_type', 'detail': params_fault(e.event_params, 'event_params')}
            when items_kind <> 'null'
                then {
                    'reason': 'invalid_type',
                    'detail': 'items is ' || if(items_kind in ('integer', 'object', 'array'), 'an ', 'a ')
                        || items_kind || ', not an array'
                }
            -- the cheap tests first: the full ones run only for the rare events that fail them
            when case
                when coalesce(list_bool_and(list_transform(items, lambda it: coalesce(plain_params(it.item_params), false))), true)
                    then false
                else list_bool_or(
                    list_transform(items, lambda it: params_fault(it.item_params, '') is not null)
                )
            end
                then {
                    'reason': 'invalid_type',
                    'detail': list_filter(
                        list_transform(
                            items,
                            lambda it, n: params_fault(
                                it.item_params, 'items[' || (n - 1) || '].item_params'
                            )
                        ),
                        lambda fault: fault is not null
                    )[1]
                }
            when len(items) > 200
                then {
                    'reason': 'too_many_items',
                    'detail': 'items has ' || len(items) || ' entries (> 200)'
                }
            when case
                when coalesce(list_bool_and(list_transform(items, lambda it: coalesce(item_is_plain(it), false))), true)
                    then false
                else list_bool_or(
                    list_transform(items, lambda it, n: item_fault(it, n - 1, raw) is not null)
                )
            end
                then {
                    'reason': 'invalid_item',
                    'detail': list_filter(
                        list_transform(items, lambda it, n: item_fault(it, n - 1, raw)),
                        lambda fault: fault is not null
                    )[1]
                }
        end as fault
    from with_items
),

flattened as (
    select
        message_id,
        batch_index,
        received_at,
        event_date,
        event_timestamp,
        fault.reason as reason,
        fault.detail as detail,
        -- quarantine needs the raw JSON; valid rows do not, and leaving it out keeps memory low
        case when fault is not null then raw end as raw,
        coalesce(json_string(e.event_id), md5(message_id || ':' || batch_index)) as event_id,
        json_string(e.user_id) as user_id,
        e.user_pseudo_id,
        json_string(e.event_name) as event_name,
        case
            when e.platform in ('IOS', 'ANDROID', 'WEB') then e.platform
            when upper(py_strip(e.platform)) in ('IOS', 'ANDROID', 'WEB')
                then upper(py_strip(e.platform))
            else 'UNKNOWN'
        end as platform,
        e.app_version,
        case when fault is null then ga4_list_entries(e.event_params) end as event_params_entries,
        e.event_params as event_params_sent,
        items
    from checked
),

folded as (
    select
        * exclude (event_params_entries, event_params_sent),
        case
            when reason is null then params_object(event_params_sent, event_params_entries)
        end as event_params
    from flattened
),

promoted as (
    select
        *,
        from_json(
            event_params,
            '{"item_list_id": "VARCHAR", "item_list_name": "VARCHAR", "currency": "VARCHAR",
              "value": "JSON", "transaction_id": "VARCHAR", "search_term": "VARCHAR"}'
        ) as p
    from folded
)

select
    * exclude (p),
    nullif(p.item_list_id, '') as item_list_id,
    nullif(p.item_list_name, '') as item_list_name,
    coalesce(nullif(p.currency, ''), 'MXN') as currency,
    case
        when not number_exceeds(regexp_replace(number_text(p.value), '^-', ''), max_money())
            then try_cast(number_text(p.value) as decimal(18, 2))
    end as value,
    nullif(p.transaction_id, '') as transaction_id,
    nullif(p.search_term, '') as search_term
from promoted
