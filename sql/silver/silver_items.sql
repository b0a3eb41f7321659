-- silver_items: one row per item of a silver_events row (docs/tables.md), flattened with the GA4
-- list fallback and the custom params (in_stock, discounts) read from the item or its params.
-- input: silver_checked, silver_kept; macros: silver_macros
with item_rows as (
    select
        event_id,
        event_date,
        item_list_id as event_item_list_id,
        item_list_name as event_item_list_name,
        unnest(items) as it,
        unnest(range(len(items))) as item_index
    from silver_checked
    semi join silver_kept using (message_id, batch_index)
),

with_entries as (
    select
        *,
        ga4_list_entries(it.item_params) as item_params_entries
    from item_rows
),

with_params as (
    select
        * exclude (item_params_entries),
        params_object(it.item_params, item_params_entries) as item_params
    from with_entries
),

custom as (
    select
        *,
        -- the item's own field wins over the one in item_params; most params have neither key,
        -- and the substring test spares parsing them
        case
            when contains(item_params, '"in_stock"') or contains(item_params, '"discounts"')
                then from_json(item_params, '{"in_stock": "JSON", "discounts": "JSON"}')
        end as ip
    from with_params
),

resolved as (
    select
        *,
        coalesce(it.in_stock, ip.in_stock) as in_stock_json,
        coalesce(it.discounts, ip.discounts) as discounts_json,
        try_cast(number_text(it.price) as decimal(18, 2)) as price,
        coalesce(integer_value(it.quantity), 1) as quantity,
        coalesce(try_cast(number_text(it.discount) as decimal(18, 2)), 0) as discount
    from custom
),

discount_codes as (
    select
        *,
        -- codes trimmed; empty ones dropped
        list_filter(
            list_transform(
                case
                    when starts_with(discounts_json, '"')
                        then string_split(json_string(discounts_json), ',')
                    when starts_with(discounts_json, '[')
                        then list_transform(
                            from_json(discounts_json, '["JSON"]'), lambda code: json_text(code)
                        )
                    else []
                end,
                lambda code: py_strip(code)
            ),
            lambda code: code <> ''
        ) as codes
    from resolved
)

select
    event_id || ':' || item_index as item_record_id,
    event_id,
    event_date,
    item_index,
    json_text(it.item_id) as item_id,
    it.item_name,
    it.item_brand,
    it.item_category,
    it.item_category2,
    it.item_category3,
    it.item_category4,
    it.item_category5,
    it.item_variant,
    price,
    quantity,
    discount,
    try_cast(discount * quantity as decimal(18, 2)) as discount_amount,
    nullif(array_to_string(codes, ','), '') as discounts,
    it.coupon,
    coalesce(nullif(it.item_list_id, ''), event_item_list_id) as item_list_id,
    coalesce(nullif(it.item_list_name, ''), event_item_list_name) as item_list_name,
    case when json_kind(it.index) = 'integer' and it.index not like '-%' then try_cast(it.index as integer) end as position_in_list,
    case
        when in_stock_json in ('true', '1') then true
        when in_stock_json in ('false', '0') then false
    end as in_stock,
    item_params
from discount_codes
