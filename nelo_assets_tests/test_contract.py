"""The event contract (docs/events.md), rule by rule, through parse_message, route_message and parse_event."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import jsonschema
import pytest

from nelo_assets.contract import (
    REASON_CODES,
    Event,
    QuarantineRecord,
    derive_event_id,
    event_date_of,
    event_json_schema,
    parse_event,
    parse_event_timestamp,
    parse_message,
    route_message,
)
from nelo_assets.ingestion import schema_export

TZ = "America/Mexico_City"  # UTC-6 all year since 2022
START = date(2026, 1, 1)
RECEIVED = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
MID = "msg-1"
ABSENT = object()


def event(**fields: Any) -> dict[str, Any]:
    """A minimal valid event; a field set to ABSENT is removed."""
    base: dict[str, Any] = {
        "event_name": "view_item",
        "event_timestamp": "2026-03-10T12:00:00Z",
        "user_id": "u-1",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ABSENT}


def body_of(value: Any) -> str:
    return value if isinstance(value, str | bytes) else json.dumps(value)


def parse(value: Any, received: datetime = RECEIVED, start: date = START):
    return parse_message(MID, received, body_of(value), timezone=TZ, start_date=start)


def route(value: Any, received: datetime = RECEIVED, start: date = START):
    return route_message(MID, received, body_of(value), timezone=TZ, start_date=start)


def valid(value: Any, **kwargs: Any) -> Event:
    parsed = parse(value, **kwargs)
    assert parsed.quarantined == [], parsed.quarantined
    assert len(parsed.events) == 1
    return parsed.events[0]


def rejected(value: Any, **kwargs: Any) -> QuarantineRecord:
    parsed = parse(value, **kwargs)
    assert parsed.events == []
    assert len(parsed.quarantined) == 1
    return parsed.quarantined[0]


def epoch_millis(ts: datetime) -> int:
    return (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


# --- body ---------------------------------------------------------------------------------------


def padded_body(size: int) -> bytes:
    """A valid single-event body of exactly `size` bytes (padding in an unknown field)."""
    empty = json.dumps(event(pad="")).encode()
    return json.dumps(event(pad="x" * (size - len(empty)))).encode()


def test_body_of_exactly_256_kib_is_accepted_and_one_byte_more_is_too_large() -> None:
    assert len(padded_body(256 * 1024)) == 262144
    assert valid(padded_body(256 * 1024)).user_id == "u-1"
    record = rejected(padded_body(256 * 1024 + 1))
    assert record.reason == "too_large"
    assert "262145" in record.detail


def test_too_large_is_checked_before_utf8() -> None:
    assert rejected(b"\xff" * (256 * 1024 + 1)).reason == "too_large"


def test_invalid_utf8_keeps_the_bad_bytes_backslash_escaped() -> None:
    record = rejected(b'{"user_id": "caf\xe9"}')
    assert record.reason == "invalid_utf8"
    assert record.raw == '{"user_id": "caf\\xe9"}'


def test_a_str_body_with_a_lone_surrogate_is_invalid_utf8() -> None:
    assert rejected('{"user_id": "\ud800"}').reason == "invalid_utf8"


@pytest.mark.parametrize(
    "body",
    [
        "{",
        "",
        '{"event_name": NaN}',
        '{"value": Infinity}',
        '{"price": 1e400}',  # beyond float range: could not be written back as JSON
        '{"user_id": "\\ud800"}',  # escaped lone surrogate: not encodable as UTF-8
        "\ufeff{}",
    ],
)
def test_invalid_json(body: str) -> None:
    record = rejected(body)
    assert record.reason == "invalid_json"
    assert (record.batch_index, record.event_date, record.raw) == (None, None, body)


def test_an_escaped_surrogate_pair_is_fine() -> None:
    body = '{"event_name": "v", "event_timestamp": 1773144000000, "user_id": "\\ud83d\\ude00"}'
    assert valid(body).user_id == "😀"


def test_nesting_at_the_recursion_limit_never_raises() -> None:
    # json.loads gives up near depth 1000; dumping a member back to JSON can fail a little earlier.
    for depth in range(960, 1010):
        nested = "[" * depth + "]" * depth
        for body in (
            f'{{"events": [{{"user_id": "u", "x": {nested}}}]}}',
            f'{{"user_id": "u", "event_timestamp": "2026-03-10T12:00:00Z", "x": {nested}}}',
        ):
            for result in (parse(body), route(body)):
                assert len(result.events) + len(result.quarantined) == 1


@pytest.mark.parametrize("body", ["[]", '"x"', "3", "null", "true", "[{}]"])
def test_json_that_is_not_an_object_is_invalid_shape(body: str) -> None:
    record = rejected(body)
    assert (record.reason, record.batch_index, record.event_date) == ("invalid_shape", None, None)


@pytest.mark.parametrize("events", [[], {}, "x", None, [event()] * 501])
def test_a_batch_whose_events_are_not_1_to_500_is_invalid_shape_whole(events: Any) -> None:
    body = json.dumps({"events": events})
    record = rejected(body)
    assert (record.reason, record.batch_index, record.raw) == ("invalid_shape", None, body)


def test_a_batch_of_500_is_accepted() -> None:
    parsed = parse({"events": [event()] * 500})
    assert len(parsed.events) == 500
    assert [e.batch_index for e in parsed.events] == list(range(500))


def test_a_non_object_batch_member_is_quarantined_alone() -> None:
    parsed = parse({"events": [event(), 5, event(user_id="u-2")]})
    assert [(e.batch_index, e.user_id) for e in parsed.events] == [(0, "u-1"), (2, "u-2")]
    [record] = parsed.quarantined
    assert (record.reason, record.batch_index, record.raw) == ("invalid_shape", 1, "5")


def test_a_single_event_body_has_batch_index_0_and_unknown_fields_are_allowed() -> None:
    assert valid(event(anything={"nested": [1, 2]})).batch_index == 0


# --- rule 1: missing_field ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["event_name", "event_timestamp", "user_id"])
@pytest.mark.parametrize("missing", [ABSENT, None, ""])
def test_missing_required_field(field: str, missing: Any) -> None:
    record = rejected(event(**{field: missing}))
    assert record.reason == "missing_field"
    assert field in record.detail


def test_missing_field_comes_before_invalid_type() -> None:
    assert rejected(event(user_id=ABSENT, event_id=5, items="x")).reason == "missing_field"


# --- rule 2: invalid_type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"user_id": 12345}, "user_id"),
        ({"user_id": True}, "user_id"),
        ({"event_name": 7}, "event_name"),
        ({"event_id": 42}, "event_id"),
        ({"event_id": ""}, "event_id"),
        ({"event_id": "e" * 129}, "event_id"),
        ({"user_id": "u" * 129}, "user_id"),
        ({"event_timestamp": 1741608000000.0}, "event_timestamp"),  # a float
        ({"event_timestamp": True}, "event_timestamp"),  # a bool is not an integer
        ({"event_timestamp": {"seconds": 1}}, "event_timestamp"),
        ({"event_params": "a=b"}, "event_params"),
        ({"event_params": [{"key": "a"}]}, "event_params[0]"),
        ({"event_params": [{"value": {"int_value": 1}}]}, "event_params[0]"),
        ({"event_params": [{"key": "a", "value": 1}]}, "event_params[0]"),
        ({"event_params": [{"key": "a", "value": {"int_value": 1, "string_value": "b"}}]}, "a"),
        ({"event_params": [{"key": "a", "value": {"int_value": "x"}}]}, "int_value"),
        ({"event_params": [{"key": "a", "value": {"string_value": 5}}]}, "string_value"),
        ({"items": {"item_id": "A"}}, "items"),
        ({"items": [{"item_id": "A", "item_params": "x"}]}, "items[0].item_params"),
    ],
)
def test_invalid_type(fields: dict[str, Any], where: str) -> None:
    record = rejected(event(**fields))
    assert record.reason == "invalid_type"
    assert where in record.detail


def test_ids_of_exactly_128_characters_are_fine() -> None:
    parsed = valid(event(event_id="e" * 128, user_id="u" * 128))
    assert (len(parsed.event_id), len(parsed.user_id)) == (128, 128)


def test_invalid_type_comes_before_invalid_timestamp() -> None:
    assert rejected(event(event_timestamp="soon", event_params=3)).reason == "invalid_type"


# --- rule 3: invalid_timestamp and the accepted forms ---------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "1741608000000",  # a numeric string
        " 1741608000000 ",
        "2026-03-10T12:00:00",  # no offset
        "2026-03-10",
        "yesterday",
        "2026-13-10T12:00:00Z",
        999_999_999_999,  # just below 10^12
        0,
        -5,
        999_999_999_999_999,  # millis (below 10^15) beyond year 9999
        10**20,  # micros beyond year 9999
    ],
)
def test_invalid_timestamp(value: Any) -> None:
    record = rejected(event(event_timestamp=value))
    assert record.reason == "invalid_timestamp"
    assert record.event_date is None


def test_the_three_timestamp_forms_mean_the_same_instant() -> None:
    instant = datetime(2026, 3, 10, 12, 0, 0, 123000, tzinfo=UTC)
    millis = epoch_millis(instant)
    forms = [
        "2026-03-10T12:00:00.123Z",
        "2026-03-10T06:00:00.123-06:00",
        "2026-03-10T21:00:00.123+09:00",
        millis,
        millis * 1000,
    ]
    for form in forms:
        parsed = valid(event(event_timestamp=form))
        assert parsed.event_timestamp == instant
        assert parsed.event_timestamp.utcoffset() == timedelta(0)


def test_the_epoch_boundaries_10_12_and_10_15() -> None:
    # 10^9 s after the epoch is 2001-09-09T01:46:40Z: 10^12 ms and 10^15 µs are both that instant.
    billennium = datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)
    assert parse_event_timestamp(10**12) == billennium
    assert parse_event_timestamp(10**15) == billennium
    assert parse_event_timestamp(10**15 + 1) == billennium + timedelta(microseconds=1)
    early = date(2001, 1, 1)
    assert valid(event(event_timestamp=10**12), start=early).event_timestamp == billennium
    assert rejected(event(event_timestamp=10**12 - 1), start=early).reason == "invalid_timestamp"


def test_parse_event_timestamp_raises_a_contract_error_with_the_reason() -> None:
    with pytest.raises(ValueError, match="invalid_type"):
        parse_event_timestamp(1.5)
    with pytest.raises(ValueError, match="invalid_timestamp"):
        parse_event_timestamp("2026-03-10T12:00:00")


# --- rule 4: timestamp_out_of_range ---------------------------------------------------------------


def test_exactly_24h_after_receipt_is_in_range_and_one_microsecond_more_is_not() -> None:
    limit = RECEIVED + timedelta(hours=24)
    assert valid(event(event_timestamp=limit.isoformat())).event_timestamp == limit
    later = (limit + timedelta(microseconds=1)).isoformat()
    record = rejected(event(event_timestamp=later))
    assert record.reason == "timestamp_out_of_range"
    assert record.event_date == date(2026, 3, 11)  # known, so recorded


def test_start_date_is_compared_in_the_business_time_zone() -> None:
    # 2026-01-01T06:00Z is midnight in Mexico City; a second earlier is still 2025-12-31 there.
    first = valid(event(event_timestamp="2026-01-01T06:00:00Z"))
    assert first.event_date == START
    record = rejected(event(event_timestamp="2026-01-01T05:59:59Z"))
    assert (record.reason, record.event_date) == ("timestamp_out_of_range", date(2025, 12, 31))


def test_event_date_is_the_local_calendar_date() -> None:
    assert valid(event(event_timestamp="2026-03-10T03:00:00Z")).event_date == date(2026, 3, 9)
    assert event_date_of(datetime(2026, 3, 10, 6, tzinfo=UTC), TZ) == date(2026, 3, 10)
    assert event_date_of(datetime(2026, 3, 10, 6, tzinfo=UTC), "Asia/Tokyo") == date(2026, 3, 10)
    assert event_date_of(datetime(2026, 3, 10, 16, tzinfo=UTC), "Asia/Tokyo") == date(2026, 3, 11)


def test_year_one_is_out_of_range_not_a_crash() -> None:
    assert rejected(event(event_timestamp="0001-01-01T00:00:00Z")).reason == (
        "timestamp_out_of_range"
    )


def test_out_of_range_comes_before_item_rules() -> None:
    items = [{"price": -1}] * 201
    record = rejected(event(event_timestamp="2025-06-01T00:00:00Z", items=items))
    assert record.reason == "timestamp_out_of_range"


# --- rules 5 and 6: items -------------------------------------------------------------------------


def test_200_items_are_fine_and_201_are_too_many() -> None:
    assert len(valid(event(items=[{"item_id": "A"}] * 200)).items) == 200
    record = rejected(event(items=[{"item_id": "A"}] * 200 + [{"price": -1}]))
    assert record.reason == "too_many_items"
    assert "201" in record.detail


@pytest.mark.parametrize(
    ("item", "where"),
    [
        ("A", "items[0]"),
        (None, "items[0]"),
        ({}, "item_id"),
        ({"item_id": None}, "item_id"),
        ({"item_id": ""}, "item_id"),
        ({"item_id": True}, "item_id"),
        ({"item_id": 1.5}, "item_id"),
        ({"item_id": ["A"]}, "item_id"),
        ({"item_id": "A", "price": -0.01}, "price"),
        ({"item_id": "A", "price": "-1"}, "price"),
        ({"item_id": "A", "price": "abc"}, "price"),
        ({"item_id": "A", "price": "NaN"}, "price"),
        ({"item_id": "A", "price": True}, "price"),
        ({"item_id": "A", "price": 1e16}, "price"),  # cannot fit DECIMAL(18,2)
        ({"item_id": "A", "discount": -1}, "discount"),
        ({"item_id": "A", "discount": "1,5"}, "discount"),
        ({"item_id": "A", "quantity": 0}, "quantity"),
        ({"item_id": "A", "quantity": -2}, "quantity"),
        ({"item_id": "A", "quantity": "1.5"}, "quantity"),
        ({"item_id": "A", "quantity": 2.0}, "quantity"),
        ({"item_id": "A", "quantity": True}, "quantity"),
        ({"item_id": "A", "quantity": 2**31}, "quantity"),
        ({"item_id": "A", "price": "9999999999999999", "quantity": 2}, "too large"),
    ],
)
def test_invalid_item(item: Any, where: str) -> None:
    record = rejected(event(items=[{"item_id": "OK"}, item]))
    assert record.reason == "invalid_item"
    assert where.replace("items[0]", "items[1]") in record.detail
    assert record.event_date == date(2026, 3, 10)


def test_item_values_are_coerced_as_the_contract_says() -> None:
    [item] = valid(
        event(items=[{"item_id": 12345, "price": "10.50", "quantity": "3", "discount": 0.5}])
    ).items
    assert (item.item_id, item.price, item.quantity, item.discount) == (
        "12345",
        Decimal("10.50"),
        3,
        Decimal("0.5"),
    )


def test_item_defaults_and_nulls_count_as_absent() -> None:
    [item] = valid(
        event(items=[{"item_id": "A", "price": None, "quantity": None, "discount": None}])
    ).items
    assert (item.price, item.quantity, item.discount, item.in_stock, item.discounts) == (
        None,
        1,
        Decimal(0),
        None,
        [],
    )
    assert item.index is None and item.item_params == {}


def test_price_zero_and_index_are_kept() -> None:
    [item] = valid(event(items=[{"item_id": "A", "price": 0, "index": 4}])).items
    assert (item.price, item.index) == (Decimal(0), 4)


# --- platform, params, fallback -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "platform"),
    [
        (" ios ", "IOS"),
        ("Android", "ANDROID"),
        ("web", "WEB"),
        ("tvOS", "UNKNOWN"),
        ("", "UNKNOWN"),
        (None, "UNKNOWN"),
        (ABSENT, "UNKNOWN"),
        (3, "UNKNOWN"),
    ],
)
def test_platform(sent: Any, platform: str) -> None:
    assert valid(event(platform=sent)).platform == platform


def test_both_param_forms_give_the_same_event() -> None:
    as_object = {
        "item_list_id": "home_top",
        "item_list_name": "Home top",
        "currency": "USD",
        "value": 199.9,
        "transaction_id": "T-1",
        "search_term": "shoes",
        "page": 2,
    }
    as_list = [
        {"key": "item_list_id", "value": {"string_value": "home_top"}},
        {"key": "item_list_name", "value": {"string_value": "Home top", "int_value": None}},
        {"key": "currency", "value": {"string_value": "USD"}},
        {"key": "value", "value": {"double_value": 199.9}},
        {"key": "transaction_id", "value": {"string_value": "T-1"}},
        {"key": "search_term", "value": {"string_value": "shoes"}},
        {"key": "page", "value": {"int_value": "2"}},  # BigQuery exports INT64 as a string
    ]
    from_object = valid(event(event_params=as_object))
    from_list = valid(event(event_params=as_list))
    assert from_object == from_list
    assert from_list.event_params == as_object
    assert (from_list.item_list_id, from_list.item_list_name, from_list.currency) == (
        "home_top",
        "Home top",
        "USD",
    )
    assert (from_list.value, from_list.transaction_id, from_list.search_term) == (
        Decimal("199.9"),
        "T-1",
        "shoes",
    )


def test_currency_defaults_to_mxn_and_value_to_null() -> None:
    parsed = valid(event())
    assert (parsed.currency, parsed.value, parsed.event_params, parsed.items) == (
        "MXN",
        None,
        {},
        [],
    )


def test_item_list_fields_fall_back_to_the_event_each_on_its_own() -> None:
    params = {"item_list_id": "L1", "item_list_name": "List one"}
    items = [
        {"item_id": "A"},
        {"item_id": "B", "item_list_name": "Own"},
        {"item_id": "C", "item_list_id": "", "item_list_name": None},
        {"item_id": "D", "item_list_id": "L9"},
    ]
    got = [
        (i.item_list_id, i.item_list_name)
        for i in valid(event(event_params=params, items=items)).items
    ]
    assert got == [("L1", "List one"), ("L1", "Own"), ("L1", "List one"), ("L9", "List one")]


def test_no_fallback_without_an_event_level_list() -> None:
    [item] = valid(event(items=[{"item_id": "A"}])).items
    assert (item.item_list_id, item.item_list_name) == (None, None)


def test_in_stock_and_discounts_from_the_item_or_its_params() -> None:
    items = [
        {"item_id": "A", "in_stock": True, "discounts": ["X", "Y"]},
        {"item_id": "B", "in_stock": 0, "discounts": "X, Y"},
        {"item_id": "C", "item_params": {"in_stock": 1, "discounts": "P"}},
        {"item_id": "D", "in_stock": False, "discounts": "Own", "item_params": {"in_stock": 1}},
        {
            "item_id": "E",
            "item_params": [
                {"key": "in_stock", "value": {"int_value": 0}},
                {"key": "discounts", "value": {"string_value": "S1,S2"}},
            ],
        },
        {"item_id": "F", "in_stock": "yes"},
    ]
    parsed = valid(event(items=items)).items
    assert [(i.in_stock, i.discounts) for i in parsed] == [
        (True, ["X", "Y"]),
        (False, ["X", "Y"]),
        (True, ["P"]),
        (False, ["Own"]),
        (False, ["S1", "S2"]),
        (None, []),
    ]
    assert parsed[4].item_params == {"in_stock": 0, "discounts": "S1,S2"}


# --- event_id ---------------------------------------------------------------------------------------


def test_event_id_is_kept_or_derived_from_message_id_and_batch_index() -> None:
    assert valid(event(event_id="client-uuid")).event_id == "client-uuid"
    assert valid(event(event_id=None)).event_id == hashlib.md5(b"msg-1:0").hexdigest()
    parsed = parse({"events": [event(), event()]})
    assert [e.event_id for e in parsed.events] == [
        hashlib.md5(b"msg-1:0").hexdigest(),
        hashlib.md5(b"msg-1:1").hexdigest(),
    ]
    assert derive_event_id("m", 7) == hashlib.md5(b"m:7").hexdigest()


def test_the_same_body_in_two_messages_is_two_events() -> None:
    body = json.dumps(event())
    first = parse_message("a", RECEIVED, body, timezone=TZ, start_date=START).events[0]
    second = parse_message("b", RECEIVED, body, timezone=TZ, start_date=START).events[0]
    assert first.event_id != second.event_id


# --- routing ------------------------------------------------------------------------------------


def test_a_single_event_body_routes_with_its_text_unchanged() -> None:
    body = '{ "user_id" : "u-1", "event_timestamp": "2026-03-10T03:00:00Z" ,"items": 5}'
    routed = route(body)
    assert routed.quarantined == []
    [routable] = routed.events
    assert (routable.batch_index, routable.raw) == (0, body)
    assert (routable.event_timestamp, routable.event_date) == (
        datetime(2026, 3, 10, 3, tzinfo=UTC),
        date(2026, 3, 9),
    )


def test_batch_members_route_as_compact_json() -> None:
    member = {"event_name": "añadir", "event_timestamp": 1773144000000, "user_id": "u"}
    routed = route({"events": [member]})
    assert (
        routed.events[0].raw
        == '{"event_name":"añadir","event_timestamp":1773144000000,"user_id":"u"}'
    )


def test_an_event_with_a_good_time_routes_whatever_else_is_wrong() -> None:
    bad_but_timed = [
        event(user_id=ABSENT),
        event(event_id=5),
        event(items=[{"price": -1}]),
        event(items=[{"item_id": "A"}] * 201),
    ]
    routed = route({"events": bad_but_timed})
    assert routed.quarantined == []
    assert [r.batch_index for r in routed.events] == [0, 1, 2, 3]
    assert len(parse({"events": bad_but_timed}).quarantined) == 4


def test_an_event_without_a_usable_time_is_quarantined_with_its_first_broken_rule() -> None:
    members = [
        event(user_id=ABSENT, event_timestamp="bad"),
        event(event_id=5, event_timestamp="bad"),
        event(event_timestamp="bad"),
        event(event_timestamp="2027-01-01T00:00:00Z"),
        7,
    ]
    routed = route({"events": members})
    assert routed.events == []
    got = [(q.batch_index, q.reason, q.event_date) for q in routed.quarantined]
    assert got == [
        (0, "missing_field", None),
        (1, "invalid_type", None),
        (2, "invalid_timestamp", None),
        (3, "timestamp_out_of_range", date(2026, 12, 31)),
        (4, "invalid_shape", None),
    ]
    assert routed.quarantined[4].raw == "7"


def test_a_whole_message_failure_routes_to_one_record_with_the_body() -> None:
    routed = route(b"\x00not json")
    assert routed.events == []
    [record] = routed.quarantined
    assert (record.reason, record.batch_index, record.raw) == ("invalid_json", None, "\x00not json")


def test_parse_event_on_a_routed_raw_gives_the_event_parse_message_gives() -> None:
    body = json.dumps(
        {"events": [event(), event(event_params={"value": "12.30"}), event(items=[7])]}
    )
    parsed = parse(body)
    for routable in route(body).events:
        again = parse_event(
            MID, RECEIVED, routable.batch_index, routable.raw, timezone=TZ, start_date=START
        )
        if isinstance(again, Event):
            assert again in parsed.events
        else:
            assert again in parsed.quarantined
    assert parsed.events[1].value == Decimal("12.30")
    assert parsed.quarantined[0].reason == "invalid_item"


def test_parse_event_on_text_that_is_not_json() -> None:
    record = parse_event(MID, RECEIVED, 3, "{", timezone=TZ, start_date=START)
    assert isinstance(record, QuarantineRecord)
    assert (record.reason, record.batch_index, record.raw) == ("invalid_json", 3, "{")


# --- records and configuration ------------------------------------------------------------------


def test_quarantine_records_carry_the_message_and_receipt() -> None:
    naive = datetime(2026, 3, 10, 18, 0)  # taken as UTC
    record = rejected(event(user_id=ABSENT), received=naive)
    assert (record.message_id, record.received_at, record.batch_index) == (MID, RECEIVED, 0)
    assert record.event_date == date(2026, 3, 10)
    assert record.reason in REASON_CODES
    assert json.loads(record.raw) == event(user_id=ABSENT)


def test_reason_codes_are_the_ten_of_events_md() -> None:
    assert sorted(REASON_CODES) == sorted(
        [
            "invalid_json",
            "invalid_utf8",
            "invalid_shape",
            "too_large",
            "missing_field",
            "invalid_type",
            "invalid_timestamp",
            "timestamp_out_of_range",
            "invalid_item",
            "too_many_items",
        ]
    )


def test_an_unknown_time_zone_is_a_configuration_error() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        parse_message(MID, RECEIVED, "{}", timezone="Mars/Olympus", start_date=START)


# --- JSON Schema ----------------------------------------------------------------------------------


def test_committed_schema_matches_a_fresh_export() -> None:
    committed = schema_export.DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == schema_export.render(), "run: python -m nelo_assets.ingestion.schema_export"


def test_schema_export_writes_the_file(tmp_path) -> None:
    target = tmp_path / "schema.json"
    assert schema_export.main([str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text) == event_json_schema()


def test_schema_agrees_with_the_code_on_examples() -> None:
    validator = jsonschema.Draft202012Validator(event_json_schema())
    jsonschema.Draft202012Validator.check_schema(event_json_schema())
    good = [
        event(),
        event(event_timestamp=1773144000000, items=[{"item_id": 5, "price": "1.5"}]),
        event(event_params=[{"key": "value", "value": {"double_value": 1.5}}]),
        {"events": [event(), event(platform=None)]},
    ]
    bad = [
        event(user_id=5),
        event(event_timestamp="2026-03-10T12:00:00"),
        event(event_timestamp=999_999_999_999),
        event(items=[{"item_id": "A", "quantity": 0}]),
        event(items=[{"item_id": "A"}] * 201),
        {"events": []},
        {"events": [event()] * 501},
    ]
    for body in good:
        assert validator.is_valid(body), body
        assert parse(body).quarantined == []
    for body in bad:
        assert not validator.is_valid(body), body
        assert parse(body).quarantined != []


def test_numeric_strings_are_ascii_digits_only() -> None:
    """docs/events.md's numeric strings are ASCII numbers; Arabic-Indic digits are not a quantity."""
    assert (
        rejected(event(items=[{"item_id": "sku", "quantity": "\u0663"}])).reason == "invalid_item"
    )
    assert rejected(event(items=[{"item_id": "sku", "price": "\u0661\u0662"}])).reason == (
        "invalid_item"
    )
