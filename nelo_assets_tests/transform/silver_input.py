"""The silver tests' input: hand-made bronze rows of one partition, and one faulty event per
validity rule and field of the contract with the quarantine reason it must get."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from nelo_assets.storage.lake import Lake
from nelo_assets_tests.rows import write_rows

EVENT_DATE = date(2026, 3, 1)
EVENT_TS = "2026-03-01T18:00:00Z"
EVENT_TIME = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 3, 1, 18, 5, tzinfo=UTC)


def raw_event(**fields: Any) -> dict[str, Any]:
    """A valid minimal event body, with `fields` added or replaced."""
    return {"event_name": "view_item", "event_timestamp": EVENT_TS, "user_id": "u1", **fields}


def bronze_row(
    body: dict[str, Any] | str,
    message_id: str,
    *,
    batch_index: int = 0,
    received_at: datetime = RECEIVED,
) -> dict[str, Any]:
    """One bronze row as ingestion writes it; `body` is the event object or its exact JSON."""
    return {
        "message_id": message_id,
        "batch_index": batch_index,
        "received_at": received_at,
        "receive_count": 1,
        "event_date": EVENT_DATE,
        "raw": body if isinstance(body, str) else json.dumps(body),
        "event_timestamp": EVENT_TIME,
        "landing_batch": "batch-0",
    }


def write_bronze(lake: Lake, rows: list[dict[str, Any]], name: str = "batch-0") -> Path:
    """The rows as landing batch `name` of bronze partition EVENT_DATE."""
    path = lake.partition_dir("bronze_events", EVENT_DATE) / f"{name}.parquet"
    return write_rows(path, "bronze_events", rows)


LONG = "x" * 129
# (event, reason, words the detail must hold), one per rule and field (docs/events.md, Validity)
FAULTS: list[tuple[dict[str, Any], str, str]] = [
    ({"event_timestamp": EVENT_TS, "user_id": "u1"}, "missing_field", "event_name"),
    (raw_event(event_name=None), "missing_field", "event_name"),
    (raw_event(user_id=""), "missing_field", "user_id"),
    (raw_event(event_name=7), "invalid_type", "event_name is an integer"),
    (raw_event(user_id=["u1"]), "invalid_type", "user_id is an array"),
    (raw_event(event_id=12), "invalid_type", "event_id is an integer"),
    (raw_event(event_id=""), "invalid_type", "event_id has 0 characters"),
    (raw_event(event_id=LONG), "invalid_type", "event_id has 129 characters"),
    (raw_event(user_id=LONG), "invalid_type", "user_id has 129 characters"),
    (raw_event(event_params="list_a"), "invalid_type", "event_params is a string"),
    (raw_event(event_params=[{"key": 1, "value": {}}]), "invalid_type", "event_params[0]"),
    (
        raw_event(event_params=[{"key": "a", "value": {"int_value": 1, "string_value": "b"}}]),
        "invalid_type",
        "event_params[0].value has several typed values",
    ),
    (
        raw_event(event_params=[{"key": "a", "value": {"int_value": "1.5"}}]),
        "invalid_type",
        "event_params[0].value.int_value",
    ),
    (raw_event(event_params=[{"key": "a", "value": 3}]), "invalid_type", "event_params[0].value"),
    (raw_event(items={"item_id": "a"}), "invalid_type", "items is an object"),
    (
        raw_event(items=[{"item_id": "a"}, {"item_id": "b", "item_params": 4}]),
        "invalid_type",
        "items[1].item_params is an integer",
    ),
    (raw_event(items=[{"item_id": "a"}] * 201), "too_many_items", "201"),
    (raw_event(items=[{"item_id": "a"}, 5]), "invalid_item", "items[1] is an integer"),
    (raw_event(items=[{"item_id": "a"}, None]), "invalid_item", "items[1]"),
    (raw_event(items=[{"name": "a"}]), "invalid_item", "items[0].item_id"),
    (raw_event(items=[{"item_id": ""}]), "invalid_item", "items[0].item_id"),
    (raw_event(items=[{"item_id": True}]), "invalid_item", "items[0].item_id"),
    (raw_event(items=[{"item_id": 1.5}]), "invalid_item", "items[0].item_id"),
    (
        raw_event(items=[{"item_id": "a", "price": -0.01}]),
        "invalid_item",
        "items[0].price is negative",
    ),
    (
        raw_event(items=[{"item_id": "a", "price": "1,5"}]),
        "invalid_item",
        "items[0].price is not a number",
    ),
    (
        raw_event(items=[{"item_id": "a", "price": True}]),
        "invalid_item",
        "items[0].price is not a number",
    ),
    (
        raw_event(items=[{"item_id": "a", "price": 1e17}]),
        "invalid_item",
        "items[0].price is too large",
    ),
    (
        raw_event(items=[{"item_id": "a", "discount": "-2"}]),
        "invalid_item",
        "items[0].discount is negative",
    ),
    (raw_event(items=[{"item_id": "a", "quantity": 0}]), "invalid_item", "items[0].quantity"),
    (raw_event(items=[{"item_id": "a", "quantity": 1.5}]), "invalid_item", "items[0].quantity"),
    (raw_event(items=[{"item_id": "a", "quantity": "2.0"}]), "invalid_item", "items[0].quantity"),
    (raw_event(items=[{"item_id": "a", "quantity": 2**31}]), "invalid_item", "items[0].quantity"),
    (
        raw_event(items=[{"item_id": "a", "price": 1e10, "quantity": 10**7}]),
        "invalid_item",
        "items[0]: amount x quantity is too large",
    ),
    # the first broken rule wins
    (raw_event(user_id=None, items=5), "missing_field", "user_id"),
    (raw_event(event_id=3, items=5), "invalid_type", "event_id"),
    (raw_event(items=[5] * 201), "too_many_items", "201"),
    (
        raw_event(items=[5, {"item_id": "a", "item_params": "p"}]),
        "invalid_type",
        "items[1].item_params",
    ),
    (raw_event(items=[{"item_id": "a", "price": "x"}, 5]), "invalid_item", "items[0].price"),
]
