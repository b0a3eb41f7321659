"""The fact tests' input: hand-made silver events with their items, written as silver
partitions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from nelo_assets.storage.lake import Lake
from nelo_assets_tests.environment import LOCAL
from nelo_assets_tests.rows import write_rows

FACTS_RECEIVED = datetime(2026, 3, 12, tzinfo=UTC)


def silver_item(
    item_id: str,
    list_name: str | None = None,
    price: str | None = "10.00",
    quantity: int = 1,
    discount_amount: str | None = "0.00",
    discounts: str | None = None,
) -> dict[str, Any]:
    """One item of a hand-made silver event (write_silver)."""
    return {
        "item_id": item_id,
        "item_list_name": list_name,
        "price": price,
        "quantity": quantity,
        "discount_amount": discount_amount,
        "discounts": discounts,
    }


def silver_event(
    event_id: str,
    user_id: str,
    at: datetime,
    name: str = "screen_view",
    list_name: str | None = None,
    items: Sequence[dict[str, Any]] = (),
    received_at: datetime = FACTS_RECEIVED,
) -> dict[str, Any]:
    """A hand-made silver event at local or UTC time `at`, with its items (write_silver)."""
    return {
        "event_id": event_id,
        "user_id": user_id,
        "event_timestamp": at.astimezone(UTC),
        "event_date": at.astimezone(LOCAL).date(),
        "event_name": name,
        "item_list_name": list_name,
        "received_at": received_at,
        "items": list(items),
    }


def _silver_rows(ev: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    event_row = {
        "event_id": ev["event_id"],
        "message_id": f"m-{ev['event_id']}",
        "batch_index": 0,
        "received_at": ev["received_at"],
        "event_timestamp": ev["event_timestamp"],
        "event_date": ev["event_date"],
        "user_id": ev["user_id"],
        "event_name": ev["event_name"],
        "platform": "IOS",
        "item_list_name": ev["item_list_name"],
        "currency": "MXN",
        "event_params": "{}",
        "item_count": len(ev["items"]),
    }
    item_rows = [
        {
            "item_record_id": f"{ev['event_id']}:{index}",
            "event_id": ev["event_id"],
            "event_date": ev["event_date"],
            "item_index": index,
            "position_in_list": index,
            **it,
        }
        for index, it in enumerate(ev["items"])
    ]
    return event_row, item_rows


def write_silver(lake: Lake, events: Iterable[dict[str, Any]]) -> set[date]:
    """Replace the silver partitions of the given events' dates with exactly those events."""
    by_date: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for ev in events:
        by_date[ev["event_date"]].append(ev)
    for day, day_events in by_date.items():
        event_rows, item_rows = [], []
        for ev in day_events:
            event_row, rows = _silver_rows(ev)
            event_rows.append(event_row)
            item_rows.extend(rows)
        write_rows(lake.partition_file("silver_events", day), "silver_events", event_rows)
        write_rows(lake.partition_file("silver_items", day), "silver_items", item_rows)
    return set(by_date)
