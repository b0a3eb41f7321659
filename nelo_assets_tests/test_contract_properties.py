"""Properties of the contract over random and mutated bodies: never raise, lose nothing, and
routing (ingestion) agrees with parsing (silver)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nelo_assets.contract import (
    MAX_BATCH_EVENTS,
    REASON_CODES,
    Event,
    QuarantineRecord,
    parse_event,
    parse_message,
    route_message,
)

TZ = "America/Mexico_City"
START = date(2026, 1, 1)
RECEIVED = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
MID = "msg-p"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)

# Values that sit on or just across a rule's edge, mixed with arbitrary JSON.
nasty = (
    st.sampled_from(
        [
            None,
            "",
            " ",
            True,
            False,
            0,
            1,
            -1,
            1.5,
            2.0,
            10**12 - 1,
            10**12,
            10**15 - 1,
            10**15,
            "1741608000000",
            "2026-03-10T12:00:00",
            "2026-03-10T12:00:00Z",
            "2025-12-31T23:59:59-06:00",
            "2026-03-11T18:00:00.000001Z",
            "abc",
            "-0.01",
            "e" * 129,
            [],
            {},
            [{"key": "k"}],
            [{"key": "k", "value": {"int_value": 1, "string_value": "x"}}],
            [{"item_id": "A"}] * 201,
        ]
    )
    | json_values
)

# Per-field edges, so that mutations reach every rule often, not by luck.
field_edges = {
    "event_timestamp": st.sampled_from(
        [
            "2026-01-01T05:59:59Z",  # 2025-12-31 in Mexico City: before the start date
            "2026-01-01T06:00:00Z",  # the start date's first instant
            "2026-03-11T18:00:00Z",  # exactly 24 h after receipt
            "2026-03-11T18:00:00.000001Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-01:00",
        ]
    ),
    "items": st.sampled_from([[{"item_id": "A"}] * 200, [{"item_id": "A"}] * 201]),
    "item_id": st.sampled_from(["", 0, True, 1.5, None]),
    "price": st.sampled_from([-1, "-0.01", "abc", 0, "0", "1e3"]),
    "quantity": st.sampled_from([0, "0", 1, "1", 2.0, "+2"]),
}

in_range_instants = st.datetimes(
    min_value=datetime(2026, 1, 2), max_value=datetime(2026, 3, 11, 17, 59)
).map(lambda naive: naive.replace(tzinfo=UTC))


@st.composite
def timestamps(draw: st.DrawFn) -> Any:
    instant = draw(in_range_instants)
    micros = (instant - EPOCH) // timedelta(microseconds=1)
    form = draw(st.sampled_from(["iso_z", "iso_offset", "millis", "micros"]))
    if form == "iso_z":
        return instant.isoformat().replace("+00:00", "Z")
    if form == "iso_offset":
        offset = timezone(timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60))))
        return instant.astimezone(offset).isoformat()
    return micros // 1000 if form == "millis" else micros


def params_in_either_form(params: dict[str, str]) -> st.SearchStrategy[Any]:
    as_list = [{"key": k, "value": {"string_value": v}} for k, v in params.items()]
    return st.sampled_from([params, as_list])


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {"item_id": draw(st.text(min_size=1, max_size=5) | st.integers(0, 999))}
    optional = {
        "item_name": st.text(max_size=5),
        "price": st.decimals(0, 1000, places=2).map(str) | st.floats(0, 1000),
        "quantity": st.integers(1, 9) | st.integers(1, 9).map(str),
        "discount": st.integers(0, 50),
        "item_list_name": st.text(max_size=5),
        "index": st.integers(0, 50),
        "in_stock": st.booleans() | st.sampled_from([0, 1]),
        "discounts": st.lists(st.text(max_size=3), max_size=3) | st.text(max_size=6),
    }
    for field, strategy in optional.items():
        if draw(st.booleans()):
            item[field] = draw(strategy)
    return item


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": draw(st.sampled_from(["view_item_list", "select_item", "purchase", "login"])),
        "event_timestamp": draw(timestamps()),
        "user_id": draw(st.text(min_size=1, max_size=10)),
    }
    if draw(st.booleans()):
        event["event_id"] = draw(st.uuids().map(str))
    if draw(st.booleans()):
        event["platform"] = draw(st.sampled_from(["ios", "ANDROID", " web", "tv", None]))
    if draw(st.booleans()):
        params = draw(
            st.dictionaries(
                st.sampled_from(["item_list_name", "currency", "x"]), st.text(max_size=4)
            )
        )
        event["event_params"] = draw(params_in_either_form(params))
    if draw(st.booleans()):
        event["items"] = draw(st.lists(items(), max_size=4))
    return event


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one field, or one field of one item, removed or replaced."""
    event = draw(valid_events())
    target = event
    if event.get("items") and draw(st.booleans()):
        target = draw(st.sampled_from(event["items"]))
    if target is event:
        # the time decides routing, so it is mutated more often than the other fields
        candidates = st.sampled_from(sorted({*event, "items", "event_id"})) | st.just(
            "event_timestamp"
        )
    else:
        candidates = st.sampled_from(sorted(target))
    field = draw(candidates)
    if field in target and draw(st.integers(0, 3)) == 0:
        del target[field]
    elif field in field_edges and draw(st.booleans()):
        target[field] = draw(field_edges[field])
    else:
        target[field] = draw(nasty)
    return event


any_event = valid_events() | mutated_events() | json_values


@st.composite
def bodies(draw: st.DrawFn) -> bytes | str:
    kind = draw(st.sampled_from(["single", "batch", "bytes", "json", "cut"]))
    if kind == "single":
        return json.dumps(draw(valid_events() | mutated_events()), ensure_ascii=draw(st.booleans()))
    if kind == "batch":
        return json.dumps({"events": draw(st.lists(any_event, min_size=0, max_size=6))})
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "json":
        return json.dumps(draw(json_values))
    # a valid body cut short or with one byte flipped
    text = json.dumps(draw(valid_events())).encode()
    position = draw(st.integers(0, len(text) - 1))
    return text[:position] + bytes([draw(st.integers(0, 255))]) + text[position + 1 :]


def expected_count(body: bytes | str) -> int:
    """Events in, judged independently of the contract module: batch members, else one."""
    try:
        value = json.loads(body)
    except ValueError:
        return 1
    if isinstance(value, dict) and isinstance(value.get("events"), list):
        return len(value["events"]) if 1 <= len(value["events"]) <= MAX_BATCH_EVENTS else 1
    return 1


def run_both(body: bytes | str):
    parsed = parse_message(MID, RECEIVED, body, timezone=TZ, start_date=START)
    routed = route_message(MID, RECEIVED, body, timezone=TZ, start_date=START)
    return parsed, routed


@SETTINGS
@given(valid_events())
def test_generated_valid_events_are_valid(event: dict[str, Any]) -> None:
    parsed, routed = run_both(json.dumps(event))
    assert parsed.quarantined == [] and len(parsed.events) == 1
    assert routed.quarantined == [] and len(routed.events) == 1
    assert parsed.events[0].event_timestamp == routed.events[0].event_timestamp


@SETTINGS
@given(bodies())
def test_nothing_is_lost_and_nothing_raises(body: bytes | str) -> None:
    parsed, routed = run_both(body)
    count = expected_count(body)
    assert len(parsed.events) + len(parsed.quarantined) == count
    assert len(routed.events) + len(routed.quarantined) == count
    for record in [*parsed.quarantined, *routed.quarantined]:
        assert record.reason in REASON_CODES
        record.raw.encode("utf-8")  # every raw can be stored as UTF-8 text
        if record.batch_index is None:  # a whole message has no event date
            assert record.event_date is None


@SETTINGS
@given(bodies())
def test_routing_and_silver_agree_with_parsing(body: bytes | str) -> None:
    parsed, routed = run_both(body)
    outcomes: dict[int | None, Event | QuarantineRecord] = {
        **{e.batch_index: e for e in parsed.events},
        **{q.batch_index: q for q in parsed.quarantined},
    }
    routable = {r.batch_index: r for r in routed.events}
    # every valid event is routable, at the same time
    for event in parsed.events:
        assert routable[event.batch_index].event_timestamp == event.event_timestamp
        assert routable[event.batch_index].event_date == event.event_date
    # every event quarantined at ingestion is quarantined by silver's rules, for the same reason
    for record in routed.quarantined:
        again = outcomes[record.batch_index]
        assert isinstance(again, QuarantineRecord) and again.reason == record.reason
    # silver re-parsing a routed raw (a bronze row) gets exactly what parse_message got
    for event in routed.events:
        again = parse_event(
            MID, RECEIVED, event.batch_index, event.raw, timezone=TZ, start_date=START
        )
        assert again == outcomes[event.batch_index]
