"""What the tests share, one section per concern: hand-made rows written as (and read back from) a
table's Parquet files, hand-made bronze, silver and fact rows, the queue-and-lake harness and its
SQS traffic, and whatever later sections add. Fixtures live in conftest.py."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetChecksDefinition,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    define_asset_job,
)

from nelo_assets.defs.bronze import checks as bronze_checks
from nelo_assets.defs.checking import Check
from nelo_assets.defs.gold import checks as gold_checks
from nelo_assets.defs.jobs import DAILY_PIPELINE_ASSETS
from nelo_assets.defs.marts import checks as marts_checks
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import ChecksResource, LakeResource, SQSResource
from nelo_assets.defs.silver import checks as silver_checks
from nelo_assets.ingestion.bronze import read_bronze, read_quarantine
from nelo_assets.ingestion.drain import IngestReport, drain_queue
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect, sql_string, write_parquet
from nelo_assets.storage.tables import TABLE_SCHEMAS, empty_select

REPO = Path(__file__).resolve().parent.parent
TEST_START_DATE = date(2020, 1, 1)
TEST_TIMEZONE = "America/Mexico_City"


# --- Ports and the browser the UI tests drive. -------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Parquet: hand-made rows as a table's files, and rows read back. ---------------------------


def write_rows(path: Path, table: str, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write hand-made rows as `table`'s Parquet file at `path`, in the given order, cast to the
    table's schema (columns a row leaves out are NULL; a column the table lacks is an error)."""
    names = [column.name for column in TABLE_SCHEMAS[table]]
    rows = list(rows)
    unknown = {key for row in rows for key in row} - set(names)
    assert not unknown, f"{table} has no column {sorted(unknown)}"
    with connect() as con:
        con.execute("set preserve_insertion_order = true")  # file order is what a test wrote
        con.execute(f"create temp table staged as {empty_select(table)}")
        if rows:
            columns = ", ".join(f'"{name}"' for name in names)
            marks = ", ".join("?" for _ in names)
            con.executemany(
                f"insert into staged ({columns}) values ({marks})",
                [[row.get(name) for name in names] for row in rows],
            )
        write_parquet(con, table, "select * from staged", path)
    return path


def write_partitions(lake: Lake, table: str, rows: Iterable[Mapping[str, Any]]) -> set[date]:
    """Replace the partitions of `table` the rows fall in (by event_date) with exactly those rows,
    one file per partition; return the dates written."""
    by_date: dict[date, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_date[row["event_date"]].append(row)
    for event_date, day_rows in by_date.items():
        write_rows(lake.partition_file(table, event_date), table, day_rows)
    return set(by_date)


def read_rows(path: Path, order_by: str | None = None) -> list[dict[str, Any]]:
    """The rows of one Parquet file as dicts (timestamps in UTC), in `order_by` order if given."""
    order = f" order by {order_by}" if order_by else ""
    with connect() as con:
        con.execute("set preserve_insertion_order = true")
        cursor = con.execute(f"select * from read_parquet({sql_string(str(path))}){order}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- Silver: hand-made bronze rows of one partition (transform/test_silver*). -----------------

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
# (event, reason, words the detail must hold), one per rule and field (EVENTS.md, Validity)
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


# --- Gold: hand-made silver events (transform/test_facts*), hand-made facts (dims, marts). -----

LOCAL = ZoneInfo(TEST_TIMEZONE)  # UTC-6 all year since 2022
FACTS_RECEIVED = datetime(2026, 3, 12, tzinfo=UTC)


def local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=LOCAL)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    # 15:00..23:59 UTC is 09:00..17:59 in Mexico City: the same calendar date.
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


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


def settings_for(
    root: Path, start_date: date = date(2026, 1, 1), lake_url: str | None = None
) -> Settings:
    """The shipped settings (Mexico City time) for a lake at `root` (or at `lake_url` on S3,
    with analytics.duckdb in `root`) whose data starts on `start_date`."""
    return Settings.from_env(
        {
            "NELO_DATA_DIR": str(root),
            "NELO_START_DATE": start_date.isoformat(),
            "NELO_LAKE_URL": lake_url or "",
        }
    )


# A test marked so runs twice: with its lake in tmp_path, and on S3 (moto) in a fresh bucket;
# it receives the location as its `lake_url` fixture (None for the local lake).
BOTH_LAKES = pytest.mark.parametrize("lake_url", ["local", "s3"], indirect=True)


# --- A queue and a lake: the harness the ingestion tests drive. ---------------------------------


@dataclass
class QueueLake:
    """A fresh queue (with its dead-letter queue) and an empty lake under tmp_path."""

    queue_url: str
    dlq_url: str
    client: Any
    settings: Settings
    lake: Lake
    sqs: SQSResource

    def counts(self) -> tuple[int, int]:
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def drain_until_empty(self, **options: Any) -> list[IngestReport]:
        """Drain as the sensor would, run after run, until the queue is empty; one run usually
        does it. moto's threaded server sometimes fails a receive ("Set changed size during
        iteration"), and the messages it hid come back after their visibility timeout, which is
        short here for that reason."""
        options = {
            "max_messages": 10_000,
            "max_seconds": 60,
            "visibility_timeout": 10,
            "wait_seconds": 0,
            **options,
        }
        deadline = time.monotonic() + 120
        reports = [drain_queue(self.client, self.queue_url, self.lake, self.settings, **options)]
        while self.counts() != (0, 0) and time.monotonic() < deadline:
            time.sleep(1)  # until a hidden message is visible again
            reports.append(
                drain_queue(self.client, self.queue_url, self.lake, self.settings, **options)
            )
        return reports

    def send(self, bodies: list[str]) -> list[str]:
        """Send bodies in batches (ten at most, under 1 MiB); return their message ids in order."""
        ids: list[str] = []
        chunk: list[str] = []
        for body in [*bodies, None]:
            full = len(chunk) == 10 or sum(map(len, chunk)) + len(body or "") > 1_000_000
            if chunk and (body is None or full):
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)],
                )
                assert not response.get("Failed"), response.get("Failed")
                by_id = {entry["Id"]: entry["MessageId"] for entry in response["Successful"]}
                ids.extend(by_id[str(i)] for i in range(len(chunk)))
                chunk = []
            if body is not None:
                chunk.append(body)
        return ids


# --- Test traffic: bodies built by hand, with what the contract says must become of each. ---


@dataclass(frozen=True)
class Sent:
    """A body to send, and where each of its events must end up (computed from EVENTS.md)."""

    body: str
    bronze: dict[int, date]  # batch_index -> event_date
    quarantine: dict[int | None, str]  # batch_index (None: the whole message) -> reason


def _local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 7, 30, tzinfo=ZoneInfo(TEST_TIMEZONE))


def _event(timestamp: object, n: int, **extra: object) -> dict[str, object]:
    return {
        "event_name": "view_item",
        "event_timestamp": timestamp,
        "user_id": f"user-{n}",
        **extra,
    }


def _single(event: dict[str, object], bronze_date: date | None = None, reason: str = "") -> Sent:
    return Sent(
        json.dumps(event),
        {0: bronze_date} if bronze_date else {},
        {} if bronze_date else {0: reason},
    )


def traffic(count: int, days: list[date], now: datetime) -> list[Sent]:
    """Bodies in every shape SQS can carry (all reasons but too_large, invalid_utf8): `count`
    shapes, so a few more bodies, as an app retry sends its body twice."""
    sent: list[Sent] = []
    for n in range(count):
        day = days[n % len(days)]
        # Late evening local time is the next UTC day: the date must come from the local clock.
        local = _local(day, 22 if n % 2 else 1)
        utc_text = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        micros = int(local.timestamp()) * 1_000_000
        shape = n % 16
        if shape == 0:
            sent.append(_single(_event(local.isoformat(), n), day))
        elif shape == 1:
            sent.append(_single(_event(utc_text, n, event_id=f"e-{n}"), day))
        elif shape == 2:
            sent.append(_single(_event(micros, n, platform="ios"), day))
        elif shape == 3:
            sent.append(_single(_event(micros // 1000, n), day))
        elif shape == 4:  # a batch: good members on two dates, and every routing failure
            other = days[(n + 1) % len(days)]
            members = [
                _event(local.isoformat(), n),
                "not an object",
                _event(_local(other, 12).isoformat(), n),
                {"event_name": "login", "user_id": "u"},
                _event("yesterday", n),
                _event(1.5e15, n),
                _event("1700000000000", n),
                _event(999, n),
                _event(utc_text, n, user_id=None),  # no user: silver's problem, bronze keeps it
            ]
            sent.append(
                Sent(
                    json.dumps({"events": members}),
                    {0: day, 2: other, 8: day},
                    {
                        1: "invalid_shape",
                        3: "missing_field",
                        4: "invalid_timestamp",
                        5: "invalid_type",
                        6: "invalid_timestamp",
                        7: "invalid_timestamp",
                    },
                )
            )
        elif shape == 5:
            sent.append(Sent("{not json", {}, {None: "invalid_json"}))
        elif shape == 6:
            sent.append(Sent(json.dumps([_event(utc_text, n)]), {}, {None: "invalid_shape"}))
        elif shape == 7:
            sent.append(Sent(json.dumps({"events": []}), {}, {None: "invalid_shape"}))
        elif shape == 8:
            body = json.dumps({"events": [_event(utc_text, n)] * 501})
            sent.append(Sent(body, {}, {None: "invalid_shape"}))
        elif shape == 9:
            before_start = _local(TEST_START_DATE - timedelta(days=1), 12).isoformat()
            sent.append(_single(_event(before_start, n), reason="timestamp_out_of_range"))
        elif shape == 10:
            future = (now + timedelta(days=3)).isoformat()
            sent.append(_single(_event(future, n), reason="timestamp_out_of_range"))
        elif shape == 11:
            sent.append(_single({"event_name": "login", "user_id": "u"}, reason="missing_field"))
        elif shape == 12:  # too many items and a bad item: routable, so bronze keeps it
            items = [{"item_id": f"sku-{i}", "price": -1} for i in range(201)]
            sent.append(_single(_event(utc_text, n, items=items), day))
        elif shape == 13:  # near the SQS limit of 256 KiB
            event = _event(utc_text, n, event_params={"blob": ""})
            padding = 256 * 1024 - len(json.dumps(event)) - 64
            event["event_params"] = {"blob": "x" * padding}
            sent.append(_single(event, day))
        elif shape == 14:  # an app retry: the same body twice is two messages, two rows
            single = _single(_event(utc_text, n), day)
            sent.extend([single, single])
        else:
            sent.append(Sent(json.dumps("just a string"), {}, {None: "invalid_shape"}))
    return sent


def assert_exactly_once(lake: Lake, sent: list[Sent], message_ids: list[str]) -> None:
    """Every event is in bronze (right partition) or quarantine (right reason), once."""
    expected_bronze = {
        (mid, index): day
        for s, mid in zip(sent, message_ids, strict=True)
        for index, day in s.bronze.items()
    }
    expected_quarantine = {
        (mid, index): reason
        for s, mid in zip(sent, message_ids, strict=True)
        for index, reason in s.quarantine.items()
    }
    dates = sorted(set(expected_bronze.values()))
    bronze = read_bronze(lake, dates)
    got_bronze = {
        (row["message_id"], row["batch_index"]): row["event_date"]
        for row in bronze.iter_rows(named=True)
    }
    assert bronze.height == len(got_bronze), "a bronze row appears twice"
    assert got_bronze == expected_bronze
    on_disk = {
        date.fromisoformat(p.name.removeprefix("event_date="))
        for p in lake.table_dir("bronze_events").glob("event_date=*")
    }
    assert on_disk == set(dates)
    quarantine = read_quarantine(lake)
    got_quarantine = {
        (row["message_id"], row["batch_index"]): row["reason"]
        for row in quarantine.iter_rows(named=True)
    }
    assert quarantine.height == len(got_quarantine), "a quarantine row appears twice"
    assert got_quarantine == expected_quarantine


# --- Checks: one clean day in every layer (test_checks, test_alerts), and check-only runs. -----

# A recent partition inside the configured partition range, whatever NELO_START_DATE says.
CHECK_DAY = date.fromisoformat(daily_partitions.get_last_partition_key()) - timedelta(days=10)
CHECKS_NOW = datetime.now(UTC)
CHECK_MODULES = (bronze_checks, silver_checks, gold_checks, marts_checks)
# Every check definition and every declaration, as the modules hold them (test_checks shows
# these are exactly the checks the code location loads).
ALL_CHECKS: list[AssetChecksDefinition] = [
    value
    for module in CHECK_MODULES
    for value in vars(module).values()
    if isinstance(value, AssetChecksDefinition)
]
DECLARED_CHECKS: dict[str, Check] = {
    value.name: value
    for module in CHECK_MODULES
    for value in vars(module).values()
    if isinstance(value, Check)
}
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


# Checks run on stand-ins for the assets: a check-only job never executes an asset.
CHECK_STANDINS = [
    AssetSpec(key, partitions_def=daily_partitions) for key in DAILY_PIPELINE_ASSETS
] + [
    AssetSpec(key)
    for key in ("quarantine", "dim_items", "dim_users", "master_list_items_engagement")
]


def run_checks(
    world: World,
    selected: Sequence[AssetChecksDefinition],
    instance: DagsterInstance | None = None,
    partition: date | None = CHECK_DAY,
) -> dict[str, AssetCheckEvaluation]:
    """Execute the selected checks for `partition` in a real run; evaluations by check name."""
    job = define_asset_job("checks_only", selection=AssetSelection.checks(*selected))
    defs = Definitions(
        assets=CHECK_STANDINS,
        asset_checks=ALL_CHECKS,
        jobs=[job],
        resources={"lake": world.resource, "checks": world.checks},
    )
    # A check-only selection has no asset to validate a partition key against: tag the run.
    result = defs.resolve_job_def("checks_only").execute_in_process(
        instance=instance or DagsterInstance.ephemeral(),
        tags={"dagster/partition": partition.isoformat()} if partition else None,
        raise_on_error=False,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}
