"""Bronze storage: routing is idempotent, crashes are repaired, and landing alone rebuilds it."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from dagster import DagsterInstance, materialize

from nelo_assets.defs.bronze.assets import bronze_events
from nelo_assets.defs.resources import LakeResource
from nelo_assets.ingestion import bronze as bronze_module
from nelo_assets.ingestion.bronze import (
    RECOVER_LOOKBACK_DAYS,
    marker_path,
    read_bronze,
    read_quarantine,
    rebuild_bronze_partition,
    rebuild_bronze_partitions,
    recover_unrouted,
    route_landing_file,
)
from nelo_assets.ingestion.landing import LandedMessage, write_landing_file
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.tables import BRONZE_EVENTS
from nelo_assets_tests.environment import TEST_START_DATE, TEST_TIMEZONE, settings_for
from nelo_assets_tests.queue_lake import QueueLake
from nelo_assets_tests.traffic import Sent, traffic


def _rows(lake: Lake, days: list[date]) -> set[tuple]:
    return set(read_bronze(lake, days).iter_rows())


def _land(lake: Lake, batch_id: str, sent: list[Sent], received_at: datetime) -> list[str]:
    messages = [
        LandedMessage(f"{batch_id}-m{i}", received_at, 1, s.body.encode())
        for i, s in enumerate(sent)
    ]
    write_landing_file(lake.landing_dir, batch_id, messages, received_at.date())
    return [m.message_id for m in messages]


def test_rebuild_from_landing_alone_equals_the_live_path(queue_lake: QueueLake) -> None:
    now = datetime.now(UTC)
    days = [now.date() - timedelta(days=n) for n in (2, 3, 9)]
    queue_lake.send([s.body for s in traffic(48, days, now)])
    queue_lake.drain_until_empty(flush_size=16)
    # An event received the evening before its own local date (in range: < 24 h ahead) sits in
    # a landing folder of an earlier UTC day than its partition.
    early_day = now.date() - timedelta(days=30)
    event_time = datetime(
        early_day.year, early_day.month, early_day.day, 1, 0, tzinfo=ZoneInfo(TEST_TIMEZONE)
    )
    early = Sent(
        json.dumps({"event_name": "x", "event_timestamp": event_time.isoformat(), "user_id": "u"}),
        {0: early_day},
        {},
    )
    received = event_time - timedelta(hours=23)
    _land(queue_lake.lake, f"{received:%Y%m%dT%H%M%S%fZ}-early000", [early], received)
    recovered_before = recover_unrouted(queue_lake.lake, queue_lake.settings)
    assert recovered_before == []  # older than the recovery window: routed explicitly below
    (landing_path,) = queue_lake.lake.landing_dir.glob("*/*/*/*-early000.jsonl.gz")
    route_landing_file(queue_lake.lake, queue_lake.settings, landing_path)
    all_days = [*days, early_day]
    live = _rows(queue_lake.lake, all_days)
    assert {row[4] for row in live} == set(all_days)  # event_date is the fifth column

    # Landing alone: no bronze files, no routing markers.
    shutil.rmtree(queue_lake.lake.table_dir("bronze_events"))
    for marker in queue_lake.lake.landing_dir.glob("*/*/*/*.routed.json"):
        marker.unlink()
    span = range((max(all_days) - min(all_days)).days + 2)
    counts = {
        min(all_days) - timedelta(days=1) + timedelta(days=n): rebuild_bronze_partition(
            queue_lake.lake,
            queue_lake.settings,
            min(all_days) - timedelta(days=1) + timedelta(days=n),
        )
        for n in span
    }

    assert _rows(queue_lake.lake, all_days) == live
    assert {d for d, n in counts.items() if n} == set(all_days)
    assert sum(counts.values()) == len(live)
    partitions = sorted(queue_lake.lake.table_dir("bronze_events").glob("event_date=*"))
    assert [p.name for p in partitions] == [f"event_date={d}" for d in sorted(all_days)]


def test_a_range_rebuild_reads_each_landing_file_once_and_equals_day_by_day(
    tmp_path, monkeypatch
) -> None:
    settings = settings_for(tmp_path, TEST_START_DATE)
    lake = Lake(settings.data_dir)
    now = datetime.now(UTC)
    days = [now.date() - timedelta(days=n) for n in (6, 5, 4)]
    # Every batch holds events of all three days, as late events make batches do.
    for n in range(3):
        _land(lake, f"{now:%Y%m%dT%H%M%S%fZ}-mixed00{n}", traffic(12, days, now), now)
    recover_unrouted(lake, settings)
    day_by_day = {day: rebuild_bronze_partition(lake, settings, day) for day in days}
    compacted = {
        day: lake.partition_dir("bronze_events", day) / "compacted.parquet" for day in days
    }
    files = {day: path.read_bytes() for day, path in compacted.items()}
    reads: list[str] = []
    real_read = bronze_module.read_landing_file

    def counted_read(path):  # the real reader, counted
        reads.append(path.name)
        return real_read(path)

    monkeypatch.setattr(bronze_module, "read_landing_file", counted_read)

    assert rebuild_bronze_partitions(lake, settings, days) == day_by_day
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 3  # once each, not once a day
    # Byte for byte the same compacted files, and nothing else left in the partitions.
    assert {day: path.read_bytes() for day, path in compacted.items()} == files
    for day in days:
        assert [p.name for p in lake.partition_dir("bronze_events", day).iterdir()] == [
            "compacted.parquet"
        ]


def test_rebuild_compacts_and_keeps_a_concurrent_batch(tmp_path) -> None:
    settings = settings_for(tmp_path, TEST_START_DATE)
    lake = Lake(settings.data_dir)
    now = datetime.now(UTC)
    day = now.date() - timedelta(days=5)
    sent = traffic(16, [day], now)
    for n, half in enumerate((sent[:8], sent[8:])):
        _land(lake, f"{now:%Y%m%dT%H%M%S%fZ}-batch00{n}", half, now + timedelta(seconds=n))
    recover_unrouted(lake, settings)
    partition = lake.partition_dir("bronze_events", day)
    # A batch an ingest routed after the rebuild scanned the landing archive.
    late = partition / "29990101T000000000000Z-late0000.parquet"
    shutil.copy(next(partition.glob("*-batch000.parquet")), late)
    before = _rows(lake, [day])
    expected = sum(len(s.bronze) for s in sent)

    assert rebuild_bronze_partition(lake, settings, day) == expected
    assert sorted(p.name for p in partition.glob("*.parquet")) == [late.name, "compacted.parquet"]
    assert _rows(lake, [day]) == before
    assert rebuild_bronze_partition(lake, settings, day) == expected  # idempotent
    assert _rows(lake, [day]) == before


def test_a_rebuild_quarantines_the_bad_messages_of_a_batch_never_routed(tmp_path) -> None:
    """A batch older than recover_unrouted's lookback (a demo's history, written straight to
    the landing archive) is first read by a rebuild: its bad messages must reach the
    quarantine with their reasons, not only its good events bronze (seen in a demo trial)."""
    settings = settings_for(tmp_path, TEST_START_DATE)
    lake = Lake(settings.data_dir)
    received_at = datetime.now(UTC) - timedelta(days=RECOVER_LOOKBACK_DAYS + 5)
    day = received_at.date()
    sent = traffic(40, [day], received_at)
    message_ids = _land(lake, f"{received_at:%Y%m%dT%H%M%S%fZ}-history0", sent, received_at)
    assert recover_unrouted(lake, settings) == [], "too old for recovery: left to the rebuild"
    expected = {
        (message_id, index, reason)
        for s, message_id in zip(sent, message_ids, strict=True)
        for index, reason in s.quarantine.items()
    }
    assert expected, "the traffic holds bad messages"

    rebuild_bronze_partitions(lake, settings, [day])
    rebuild_bronze_partitions(lake, settings, [day])  # idempotent

    quarantined = read_quarantine(lake).select("message_id", "batch_index", "reason").rows()
    assert len(quarantined) == len(expected)
    assert set(quarantined) == expected


def test_recover_unrouted_routes_a_batch_once(tmp_path) -> None:
    settings = settings_for(tmp_path, TEST_START_DATE)
    lake = Lake(settings.data_dir)
    now = datetime.now(UTC)
    day = now.date() - timedelta(days=1)
    sent = traffic(10, [day], now)
    message_ids = _land(lake, f"{now:%Y%m%dT%H%M%S%fZ}-crashed0", sent, now)

    (recovered,) = recover_unrouted(lake, settings)

    assert recovered.events == sum(len(s.bronze) for s in sent)
    assert recovered.quarantined == sum(len(s.quarantine) for s in sent)
    assert recovered.event_dates == [day]
    (landing_path,) = lake.landing_dir.glob("*/*/*/*.jsonl.gz")
    assert json.loads(marker_path(landing_path).read_text())["event_dates"] == [day.isoformat()]
    assert recover_unrouted(lake, settings) == []
    keys = {(r[0], r[1]) for r in _rows(lake, [day])}
    assert keys == {(mid, i) for s, mid in zip(sent, message_ids, strict=True) for i in s.bronze}


def test_routing_a_batch_again_rewrites_the_same_files(tmp_path) -> None:
    settings = settings_for(tmp_path, TEST_START_DATE)
    lake = Lake(settings.data_dir)
    now = datetime.now(UTC)
    days = [now.date() - timedelta(days=n) for n in (1, 2)]
    _land(lake, f"{now:%Y%m%dT%H%M%S%fZ}-again000", traffic(20, days, now), now)
    (path,) = lake.landing_dir.glob("*/*/*/*.jsonl.gz")

    route_landing_file(lake, settings, path)
    files = sorted(lake.root.rglob("*.parquet"))
    first = {p: pl.read_parquet(p).rows() for p in files}
    route_landing_file(lake, settings, path)

    assert sorted(lake.root.rglob("*.parquet")) == files
    assert len(files) == len(days) + 1  # one bronze file per date, one quarantine file
    assert {p: pl.read_parquet(p).rows() for p in files} == first


def test_bronze_events_asset_rebuilds_its_partition(tmp_path) -> None:
    settings = settings_for(tmp_path, TEST_START_DATE)
    lake = Lake(settings.data_dir)
    now = datetime.now(UTC)
    day = now.date() - timedelta(days=3)
    sent = traffic(16, [day], now)
    _land(lake, f"{now:%Y%m%dT%H%M%S%fZ}-asset000", sent, now)

    result = materialize(
        [bronze_events],
        partition_key=day.isoformat(),
        resources={"lake": LakeResource.from_settings(settings)},
        instance=DagsterInstance.ephemeral(),
    )

    (materialization,) = result.asset_materializations_for_node("bronze_events")
    assert materialization.partition == day.isoformat()
    assert materialization.metadata["dagster/row_count"].value == sum(len(s.bronze) for s in sent)
    schema = materialization.metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == [c.name for c in BRONZE_EVENTS]
    assert len(read_bronze(lake, [day])) == sum(len(s.bronze) for s in sent)
