"""One clean day in every layer, consistent across layers, as the checks read it: tests copy it
and break one table (quality/test_checks, defs/test_alerts)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import ChecksResource, LakeResource
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.environment import TEST_START_DATE, TEST_TIMEZONE, at
from nelo_assets_tests.rows import write_rows

# A recent partition inside the configured partition range, whatever NELO_START_DATE says.
CHECK_DAY = date.fromisoformat(daily_partitions.get_last_partition_key()) - timedelta(days=10)
CHECKS_NOW = datetime.now(UTC)
# One quarantined row in six stays below this rate; the flood test goes far above it.
CHECK_LIMITS = ChecksResource(max_quarantine_rate="0.2")


@dataclass
class World:
    """One clean day CHECK_DAY in every layer, consistent across layers; tests break one table."""

    lake: Lake
    resource: LakeResource
    tables: dict[str, list[dict[str, Any]]]
    # a resource is a descriptor to dataclasses, so it cannot be a plain default
    checks: ChecksResource = field(default_factory=lambda: CHECK_LIMITS)

    def path(self, table: str, day: date = CHECK_DAY) -> Path:
        if table == "silver_quarantine":
            return self.lake.silver_quarantine_file(day)
        if table == "bronze_events":
            return self.lake.partition_dir(table, day) / "batch-1.parquet"
        if table in ("dim_items", "dim_users"):
            return self.lake.table_file(table)
        return self.lake.partition_file(table, day)

    def save(self, table: str, rows: list[dict[str, Any]] | None = None) -> None:
        if rows is not None:
            self.tables[table] = rows
        kind = "quarantine" if table == "silver_quarantine" else table
        write_rows(self.path(table), kind, self.tables[table])

    def edit(self, table: str, key: str, value: str, **changes: Any) -> None:
        """Change the row whose `key` column equals `value`."""
        rows = [dict(r, **changes) if r[key] == value else r for r in self.tables[table]]
        self.save(table, rows)


def clean_bronze_row(message_id: str, event: dict[str, Any], ts: datetime) -> dict[str, Any]:
    """A bronze row of CHECK_DAY received five minutes ago (fresh)."""
    return {
        "message_id": message_id,
        "batch_index": 0,
        "received_at": CHECKS_NOW - timedelta(minutes=5),
        "receive_count": 1,
        "event_date": CHECK_DAY,
        "raw": json.dumps(event),
        "event_timestamp": ts,
        "landing_batch": "batch-1",
    }


def clean_tables() -> dict[str, list[dict[str, Any]]]:
    day, received = CHECK_DAY, CHECKS_NOW - timedelta(minutes=5)
    t1, t2, t3, t4 = at(day, 13), at(day, 13, 10), at(day, 15), at(day, 16)
    events = [
        ("e1", "u1", t1, "screen_view", "m1"),
        ("e2", "u1", t2, "view_item_list", "m2"),
        ("e3", "u2", t3, "purchase", "m3"),
        ("e4", "u2", t4, "screen_view", "m4"),
    ]
    silver_events = [
        {
            "event_id": eid,
            "message_id": mid,
            "batch_index": 0,
            "received_at": received,
            "event_timestamp": ts,
            "event_date": day,
            "user_id": uid,
            "event_name": name,
            "platform": "IOS",
            "currency": "MXN",
            "item_count": {"e2": 2, "e3": 1}.get(eid, 0),
        }
        for eid, uid, ts, name, mid in events
    ]
    bronze = [
        clean_bronze_row(e["message_id"], {"event_id": e["event_id"]}, e["event_timestamp"])
        for e in silver_events
    ]
    # m5 repeats e1 (an app retry with a new message id): removed as a duplicate.
    bronze.append(clean_bronze_row("m5", {"event_id": "e1"}, t1))
    bronze.append(clean_bronze_row("m6", {"event_name": "login"}, t1))  # quarantined: no user
    quarantine = [
        {
            "message_id": "m6",
            "received_at": received,
            "batch_index": 0,
            "event_date": day,
            "reason": "missing_field",
            "detail": "user_id is absent",
            "raw": "{}",
            "stage": "silver",
        }
    ]
    items = [
        ("e2:0", "e2", 0, "sku-1", "home", 100.0, 1, t2, "u1", "view_item_list"),
        ("e2:1", "e2", 1, "sku-2", "home", 50.0, 1, t2, "u1", "view_item_list"),
        ("e3:0", "e3", 0, "sku-1", None, 100.0, 2, t3, "u2", "purchase"),
    ]
    silver_items = [
        {
            "item_record_id": rid,
            "event_id": eid,
            "event_date": day,
            "item_index": index,
            "item_id": sku,
            "item_name": f"name {sku}",
            "price": price,
            "quantity": qty,
            "discount": 0.0,
            "discount_amount": 0.0,
            "item_list_name": list_name,
        }
        for rid, eid, index, sku, list_name, price, qty, _, _, _ in items
    ]
    sessions = {"e1": "s1", "e2": "s1", "e3": "s2", "e4": "s3"}
    fact_events = [
        {
            "event_id": e["event_id"],
            "user_id": e["user_id"],
            "session_id": sessions[e["event_id"]],
            "event_name": e["event_name"],
            "event_timestamp": e["event_timestamp"],
            "event_date": day,
            "event_hour": 7,
            "platform": "IOS",
            "currency": "MXN",
            "processed_at": CHECKS_NOW,
        }
        for e in silver_events
    ]
    fact_items = [
        {
            "event_item_id": rid,
            "event_id": eid,
            "event_date": day,
            "event_timestamp": ts,
            "user_id": uid,
            "session_id": sessions[eid],
            "event_name": name,
            "item_id": sku,
            "price": price,
            "quantity": qty,
            "total_price": price * qty,
            "discount_amount": 0.0,
            "has_discount": False,
            "item_list_name": list_name,
            "attributed_item_list_name": list_name or "home",
            "attribution_source": "explicit" if list_name else "last_click",
        }
        for rid, eid, _, sku, list_name, price, qty, ts, uid, name in items
    ]
    dim_items = [
        ("sk-1a", "sku-1", "old name", t2, t3, False),
        ("sk-1b", "sku-1", "name sku-1", t3, None, True),
        ("sk-2", "sku-2", "name sku-2", t2, None, True),
    ]
    return {
        "bronze_events": bronze,
        "silver_quarantine": quarantine,
        "silver_events": silver_events,
        "silver_items": silver_items,
        "fact_events": fact_events,
        "fact_event_items": fact_items,
        "dim_items": [
            {
                "item_sk": sk,
                "item_id": sku,
                "item_name": name,
                "valid_from": start,
                "valid_to": end,
                "is_current": current,
                "last_price": 100.0,
            }
            for sk, sku, name, start, end, current in dim_items
        ],
        "dim_users": [
            {"user_sk": f"sk-{u}", "user_id": u, "total_revenue": revenue}
            for u, revenue in (("u1", 0.0), ("u2", 200.0))
        ],
        "mart_item_list_daily": [
            {"event_date": day, "item_list_name": "home", "click_through_rate": 0.5},
            {"event_date": day, "item_list_name": "(not set)", "attributed_revenue": 0.0},
        ],
        "mart_product_daily_metrics": [
            {
                "event_date": day,
                "item_id": "sku-1",
                "click_through_rate": 1.0,
                "item_revenue": 200.0,
            },
            {"event_date": day, "item_id": "sku-2", "click_through_rate": 0.0},
        ],
        "mart_list_position_daily": [
            {"event_date": day, "item_list_name": "home", "position_in_list": 0},
            {"event_date": day, "item_list_name": "home", "position_in_list": 1},
        ],
    }


def check_lake_resource(root: Path) -> LakeResource:
    return LakeResource(
        data_dir=str(root), timezone=TEST_TIMEZONE, start_date=TEST_START_DATE.isoformat()
    )


def world_at(root: Path) -> World:
    return World(Lake(root), check_lake_resource(root), clean_tables())


def write_clean_day(root: Path) -> Path:
    template = world_at(root)
    for table in template.tables:
        template.save(table)
    return root


def copy_clean_day(template: Path, root: Path) -> World:
    """A fresh copy of the clean day (copying is cheaper than writing Parquet again)."""
    shutil.copytree(template, root)
    return world_at(root)
