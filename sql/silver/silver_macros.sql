-- silver_macros: JSON helpers shared by the silver models (not a table). Every argument named
-- `j` is a JSON value as DuckDB serialises it after from_json(..., 'JSON'): compact, so its first
-- character tells its type, and an integer is digits only (a float always has '.' or 'e').

-- How silver reads an event's JSON: JSON where the type decides validity, VARCHAR where any
-- value is kept as text; items straight into structs (NULL when items is absent or not an array).
create or replace temp macro event_json_schema() as
    '{"event_id": "JSON", "event_name": "JSON", "event_timestamp": "JSON",
      "user_id": "JSON", "user_pseudo_id": "VARCHAR", "platform": "VARCHAR",
      "app_version": "VARCHAR", "event_params": "JSON",
      "items": [{"item_id": "JSON", "item_name": "VARCHAR", "item_brand": "VARCHAR",
                 "item_category": "VARCHAR", "item_category2": "VARCHAR",
                 "item_category3": "VARCHAR", "item_category4": "VARCHAR",
                 "item_category5": "VARCHAR", "item_variant": "VARCHAR",
                 "price": "JSON", "quantity": "JSON", "discount": "JSON",
                 "coupon": "VARCHAR", "item_list_id": "VARCHAR",
                 "item_list_name": "VARCHAR", "index": "JSON", "in_stock": "JSON",
                 "discounts": "JSON", "item_params": "JSON"}]}';

create or replace temp macro json_kind(j) as
    case
        when j is null then 'null'
        when starts_with(j, '"') then 'string'
        when starts_with(j, '{') then 'object'
        when starts_with(j, '[') then 'array'
        when j in ('true', 'false') then 'boolean'
        when contains(j, '.') or contains(j, 'e') or contains(j, 'E') then 'number'
        else 'integer'
    end;

-- An article for the detail texts.
create or replace temp macro json_kind_phrase(j) as
    if(json_kind(j) in ('integer', 'object', 'array'), 'an ', 'a ') || json_kind(j);

-- str.strip() of Python: every Unicode white space, not only ' ' as trim() does.
create or replace temp macro py_strip(s) as
    regexp_replace(
        s,
        '^[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+|[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+$',
        '',
        'g'
    );

-- The value of a JSON string (NULL for any other JSON); without escapes it is the text between
-- the quotes, which spares parsing it again.
create or replace temp macro json_string(j) as
    case
        when not starts_with(j, '"') then null
        when contains(j, '\') then j ->> '$'
        else j[2:-2]
    end;

-- An optional text field: a string as itself, any other value as its JSON text, null as NULL.
create or replace temp macro json_text(j) as
    case when starts_with(j, '"') then json_string(j) else j::varchar end;

-- A JSON number, or a string holding one (surrounding white space allowed), as its number text;
-- NULL for anything else.
create or replace temp macro number_text(j) as
    case
        when json_kind(j) in ('integer', 'number') then j::varchar
        -- the common string form, "425.99", without the regex work below
        when regexp_full_match(j, '"[0-9]+(\.[0-9]+)?"') then j[2:-2]
        when starts_with(j, '"')
            and regexp_full_match(
                py_strip(j ->> '$'), '[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?'
            )
            then py_strip(j ->> '$')
    end;

-- A JSON integer, or a string holding one, as a BIGINT; NULL for anything else or beyond BIGINT.
create or replace temp macro integer_value(j) as
    case
        when json_kind(j) = 'integer' then try_cast(j as bigint)
        when starts_with(j, '"') and regexp_full_match(py_strip(j ->> '$'), '[+-]?[0-9]+')
            then try_cast(py_strip(j ->> '$') as bigint)
    end;

-- Exact comparisons of a number text: its sign from the digits, its size as a decimal when it
-- fits one (a double only beyond 10^28, far past any limit checked here).
create or replace temp macro number_is_negative(n) as
    starts_with(n, '-') and regexp_matches(regexp_extract(n, '^[^eE]*'), '[1-9]');

create or replace temp macro number_exceeds(n, limit_value) as
    coalesce(
        try_cast(n as decimal(38, 10)) > limit_value, try_cast(n as double) > limit_value
    );

-- The largest amount a DECIMAL(18,2) column holds.
create or replace temp macro max_money() as 9999999999999999.99::decimal(38, 10);

-- The JSON type of a value, in the words of the quarantine details.
create or replace temp macro json_kind_excerpt(j) as
    json_kind_phrase(j) || ': ' || case when length(j) > 80 then left(j, 80) || '...' else j end;

-- GA4 list form [{"key": k, "value": {"<type>_value": v}}] -> its entries: key, typed values
-- and the kind of `value` as JSON, and where the entry is (for fault texts).
create or replace temp macro ga4_entries(p, field) as
    list_transform(
        -- each entry parsed once for both its fields (NULL fields when it is not an object)
        list_transform(
            from_json(p, '["JSON"]'),
            lambda entry: from_json(entry, '{"key": "JSON", "value": "JSON"}')
        ),
        lambda entry, n: {
            'key': entry.key,
            'typed': from_json(
                entry.value,
                '{"string_value": "JSON", "int_value": "JSON", "float_value": "JSON", "double_value": "JSON"}'
            ),
            'value_kind': json_kind(entry.value),
            'where': field || '[' || (n - 1) || ']'
        }
    );

-- The one typed value of an entry as JSON text, normalised as the contract does (an integer
-- string becomes a number, a float a double); NULL when none is set.
create or replace temp macro ga4_value(t) as
    case
        when t.string_value is not null then t.string_value
        when t.int_value is not null then
            case
                when json_kind(t.int_value) = 'integer' then t.int_value
                else try_cast(t.int_value ->> '$' as hugeint)::varchar
            end
        when t.float_value is not null then to_json(cast(number_text(t.float_value) as double))::varchar
        when t.double_value is not null then to_json(cast(number_text(t.double_value) as double))::varchar
    end;

-- Why an entry is malformed (the contract's invalid_type), or NULL.
create or replace temp macro ga4_fault(e) as
    case
        when json_kind(e.key) <> 'string' then e.where || ' is not a {key, value} entry'
        when e.value_kind <> 'object' then e.where || '.value is not an object'
        when (e.typed.string_value is not null)::int + (e.typed.int_value is not null)::int
            + (e.typed.float_value is not null)::int + (e.typed.double_value is not null)::int > 1
            then e.where || '.value has several typed values'
        when e.typed.string_value is not null and json_kind(e.typed.string_value) <> 'string'
            then e.where || '.value.string_value is unusable: ' || e.typed.string_value
        when e.typed.int_value is not null
            and not (
                json_kind(e.typed.int_value) = 'integer'
                or regexp_full_match(coalesce(json_text(e.typed.int_value), ''), '[+-]?[0-9]{1,30}')
                and starts_with(e.typed.int_value, '"')
            )
            then e.where || '.value.int_value is unusable: ' || e.typed.int_value
        when coalesce(e.typed.float_value, e.typed.double_value) is not null
            and not isfinite(
                coalesce(
                    try_cast(number_text(coalesce(e.typed.float_value, e.typed.double_value)) as double),
                    'nan'::double
                )
            )
            then e.where || '.value.' || if(e.typed.float_value is not null, 'float_value', 'double_value')
                || ' is unusable: ' || coalesce(e.typed.float_value, e.typed.double_value)
    end;

-- Params that cannot have a fault: absent, an object, or a GA4 list whose every entry is exactly
-- {"key": <string>, "value": {<one typed value of its type, short enough to be finite>}} as
-- DuckDB's compact JSON writes it. Anything else (rare) takes the full check in params_fault.
create or replace temp macro ga4_plain_entry() as
    '\{"key":"(?:[^"\\]|\\.)*","value":\{"(?:string_value":"(?:[^"\\]|\\.)*"|int_value":-?[0-9]{1,18}|(?:float|double)_value":-?[0-9]{1,15}(?:\.[0-9]{1,15})?)\}\}';

create or replace temp macro plain_params(p) as
    p is null
    or starts_with(p, '{')
    or p = '[]'
    or starts_with(p, '[')
    and regexp_full_match(p, '\[(?:' || ga4_plain_entry() || ',)*' || ga4_plain_entry() || '\]');

-- Params (event_params, item_params): why they are unusable, or NULL when they are fine.
create or replace temp macro params_fault(p, field) as
    case
        when plain_params(p) then null
        when not starts_with(p, '[')
            then field || ' is ' || json_kind_phrase(p) || ', not an object or a GA4 list'
        else list_filter(
            list_transform(ga4_entries(p, field), lambda e: ga4_fault(e)), lambda f: f is not null
        )[1]
    end;

-- Params as one JSON object: the object form as sent, the list form folded (a repeated key keeps
-- its last value). Only called on params without a fault, so every entry is a {key, value}
-- object and one typed parse of the whole list reads it.
create or replace temp macro ga4_typed_entries(p) as
    from_json(
        p,
        '[{"key": "JSON", "value": {"string_value": "JSON", "int_value": "JSON", "float_value": "JSON", "double_value": "JSON"}}]'
    );

create or replace temp macro ga4_last_per_key(entries) as
    case
        -- repeated keys are rare; the quadratic filter runs only for them
        when len(list_distinct(list_transform(entries, lambda e: e.key))) = len(entries) then entries
        else list_filter(
            entries,
            lambda e, n: not list_contains(
                list_transform(entries[n + 1:], lambda later: later.key), e.key
            )
        )
    end;

create or replace temp macro ga4_object(entries) as
    '{' || array_to_string(
        list_transform(
            ga4_last_per_key(entries),
            lambda e: e.key || ':' || coalesce(ga4_value(e.value), 'null')
        ),
        ','
    ) || '}';

-- ga4_object for plain params (see plain_params), the usual case: their typed values need no
-- normalising but a float's, and this small lambda runs several times faster than ga4_value's.
create or replace temp macro ga4_plain_object(entries) as
    '{' || array_to_string(
        list_transform(
            ga4_last_per_key(entries),
            lambda e: e.key || ':' || coalesce(
                e.value.string_value,
                e.value.int_value,
                to_json(coalesce(e.value.float_value, e.value.double_value)::varchar::double)::varchar
            )
        ),
        ','
    ) || '}';

-- The typed entries of list-form params, NULL for any other form. Compute it in a step of its
-- own and pass the column to params_object: a macro argument is re-evaluated at every use.
create or replace temp macro ga4_list_entries(p) as
    case when starts_with(p, '[') then ga4_typed_entries(p) end;

create or replace temp macro params_object(p, entries) as
    case
        when entries is null then coalesce(p, '{}')
        when plain_params(p) then ga4_plain_object(entries)
        else ga4_object(entries)
    end;

-- A cheap test that passes nearly every real item and implies item_fault is NULL: a
-- non-empty string or integer item_id, and amounts and quantity as plain JSON numbers, or
-- strings of plain digits, short enough that neither they nor their products can pass the
-- DECIMAL(18,2) limit.
create or replace temp macro plain_amount(j) as
    j is null
    or left(j, 1) between '0' and '9'
    and not contains(j, 'e')
    and not contains(j, 'E')
    and length(j) <= 12
    or starts_with(j, '"')
    and length(j) <= 14
    and regexp_full_match(j, '"[0-9]+(\.[0-9]+)?"');

create or replace temp macro item_is_plain(it) as
    (starts_with(it.item_id, '"') and it.item_id <> '""' or json_kind(it.item_id) = 'integer')
    and plain_amount(it.price)
    and plain_amount(it.discount)
    and (
        it.quantity is null
        or left(it.quantity, 1) between '1' and '9'
        and length(it.quantity) <= 3
        and json_kind(it.quantity) = 'integer'
        or regexp_full_match(it.quantity, '"[1-9][0-9]{0,2}"')
    );

-- Why items[n] breaks rule 6 (invalid_item), or NULL. `it` is the item read as a struct, so a
-- non-object reads as all NULL; the event's `raw` JSON says what it was, only when needed.
create or replace temp macro item_fault(it, n, raw) as
    case
        when not (
            json_kind(it.item_id) = 'string' and it.item_id <> '""'
            or json_kind(it.item_id) = 'integer'
        )
            then
                case
                    when json_kind(json_extract(raw, '$.items[' || n || ']')) <> 'object'
                        then 'items[' || n || '] is '
                            || json_kind_phrase(json_extract(raw, '$.items[' || n || ']'))
                            || ', not an object'
                    else 'items[' || n || '].item_id is not usable: ' || coalesce(it.item_id, 'null')
                end
        when it.price is not null and number_text(it.price) is null
            then 'items[' || n || '].price is not a number: ' || it.price
        when number_is_negative(number_text(it.price))
            then 'items[' || n || '].price is negative: ' || it.price
        when number_exceeds(number_text(it.price), max_money())
            then 'items[' || n || '].price is too large: ' || it.price
        when it.discount is not null and number_text(it.discount) is null
            then 'items[' || n || '].discount is not a number: ' || it.discount
        when number_is_negative(number_text(it.discount))
            then 'items[' || n || '].discount is negative: ' || it.discount
        when number_exceeds(number_text(it.discount), max_money())
            then 'items[' || n || '].discount is too large: ' || it.discount
        when it.quantity is not null
            and not coalesce(integer_value(it.quantity) between 1 and 2147483647, false)
            then 'items[' || n || '].quantity is not an integer >= 1: ' || it.quantity
        when greatest(
            coalesce(cast(number_text(it.price) as decimal(38, 10)), 0),
            coalesce(cast(number_text(it.discount) as decimal(38, 10)), 0)
        ) * coalesce(integer_value(it.quantity), 1) > max_money()
            then 'items[' || n || ']: amount x quantity is too large'
    end;
