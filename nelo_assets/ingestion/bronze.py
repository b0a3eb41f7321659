"""Bronze storage: routing landing batches into per-date Parquet files, reading, and rebuilding.

Storage is append-only (one file per landing batch and event_date, one quarantine file per
batch), so it may hold a message twice after a crash or a redelivery; the read models in
sql/bronze/ dedupe. Routing a batch is idempotent: same file names, same rows.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from nelo_assets.contract import route_message
from nelo_assets.ingestion.landing import (
    SUFFIX,
    LandedMessage,
    batch_id_of,
    iter_landing_files,
    landing_day_dirs,
    read_landing_file,
)
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake, LakePath, atomic_path
from nelo_assets.storage.sql_models import bind_parquet, connect, load_sql, write_parquet
from nelo_assets.storage.tables import TABLE_SCHEMAS

BRONZE = "bronze_events"
QUARANTINE = "quarantine"
COMPACTED_NAME = "compacted.parquet"
MARKER_SUFFIX = ".routed.json"
# An event is received at most 24 h before its time (else it is out of range), and its local
# date can start up to 14 h before UTC midnight; a landing batch is filed under the UTC date of
# its first receipt, so three days back covers every batch that can hold an event of date D.
REBUILD_LOOKBACK_DAYS = 3
# Unrouted batches older than this are left to rebuild_bronze_partitions: their messages were
# never deleted, so SQS redelivered them long ago.
RECOVER_LOOKBACK_DAYS = 14

_POLARS_TYPES: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(),
    "INTEGER": pl.Int32(),
    "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
    "DATE": pl.Date(),
}


@dataclass
class RoutedBatch:
    """What routing one landing batch produced."""

    batch_id: str
    messages: int = 0
    events: int = 0
    quarantined: int = 0
    rows_by_date: dict[date, int] = field(default_factory=dict)

    @property
    def event_dates(self) -> list[date]:
        return sorted(self.rows_by_date)


def _frame(table: str, rows: Sequence[dict]) -> pl.DataFrame:
    schema = {c.name: _POLARS_TYPES[c.type] for c in TABLE_SCHEMAS[table]}
    return pl.DataFrame(list(rows), schema=schema)


def _write(table: str, rows: Sequence[dict], path: LakePath) -> None:
    with atomic_path(path) as tmp:
        _frame(table, rows).write_parquet(tmp, compression="zstd")


def route_batch(
    messages: Iterable[LandedMessage], batch_id: str, settings: Settings
) -> tuple[dict[date, list[dict]], list[dict]]:
    """Route a batch in memory: bronze rows by event_date, and ingest quarantine rows."""
    bronze: dict[date, list[dict]] = defaultdict(list)
    quarantined: list[dict] = []
    for message in messages:
        routed = route_message(
            message.message_id,
            message.received_at,
            message.body,
            timezone=settings.timezone,
            start_date=settings.start_date,
        )
        for event in routed.events:
            bronze[event.event_date].append(
                {
                    "message_id": message.message_id,
                    "batch_index": event.batch_index,
                    "received_at": message.received_at,
                    "receive_count": message.receive_count,
                    "event_date": event.event_date,
                    "raw": event.raw,
                    "event_timestamp": event.event_timestamp,
                    "landing_batch": batch_id,
                }
            )
        for record in routed.quarantined:
            quarantined.append(
                {
                    "message_id": record.message_id,
                    "received_at": record.received_at,
                    "batch_index": record.batch_index,
                    "event_date": record.event_date,
                    "reason": record.reason,
                    "detail": record.detail,
                    "raw": record.raw,
                    "stage": "ingest",
                }
            )
    return bronze, quarantined


def route_messages(
    lake: Lake,
    settings: Settings,
    batch_id: str,
    received_date: date,
    messages: Sequence[LandedMessage],
) -> RoutedBatch:
    """Route one landed batch into bronze and quarantine files (atomic, idempotent)."""
    bronze, quarantined = route_batch(messages, batch_id, settings)
    for event_date, rows in bronze.items():
        _write(BRONZE, rows, lake.partition_dir(BRONZE, event_date) / f"{batch_id}.parquet")
    _write_ingest_quarantine(lake, received_date, batch_id, quarantined)
    return RoutedBatch(
        batch_id=batch_id,
        messages=len(messages),
        events=sum(len(rows) for rows in bronze.values()),
        quarantined=len(quarantined),
        rows_by_date={d: len(rows) for d, rows in bronze.items()},
    )


def _write_ingest_quarantine(
    lake: Lake, received_date: date, batch_id: str, rows: list[dict]
) -> None:
    """The batch's ingest quarantine file (one per batch: rewriting it is idempotent)."""
    if rows:
        _write(QUARANTINE, rows, lake.ingest_quarantine_file(received_date, batch_id))


def landing_date(path: LakePath) -> date:
    year, month, day = path.parent.parts[-3:]
    return date(int(year), int(month), int(day))


def marker_path(landing_path: LakePath) -> LakePath:
    return landing_path.with_name(batch_id_of(landing_path) + MARKER_SUFFIX)


def mark_routed(landing_path: LakePath, routed: RoutedBatch) -> None:
    """Record that a landing batch is routed, and to which dates (lets rebuilds skip it)."""
    summary = {
        "event_dates": [d.isoformat() for d in routed.event_dates],
        "events": routed.events,
        "quarantined": routed.quarantined,
    }
    with atomic_path(marker_path(landing_path)) as tmp:
        tmp.write_text(json.dumps(summary))


def marked_dates(landing_path: LakePath) -> set[date] | None:
    """The event dates a routed batch wrote, or None when it has no marker."""
    marker = marker_path(landing_path)
    if not marker.exists():
        return None
    return {date.fromisoformat(d) for d in json.loads(marker.read_text())["event_dates"]}


def record_unannounced(lake: Lake, routed: RoutedBatch) -> None:
    """Note the bronze partitions a routed batch wrote, before its messages are deleted.

    The ingest run announces them to Dagster (asset materializations) when it ends; a run that
    dies first leaves this note, and the next ingest run announces them instead, so automation
    rebuilds those dates downstream (R10). One small JSON file a batch, removed once announced.
    """
    if not routed.rows_by_date:
        return
    rows = {d.isoformat(): n for d, n in sorted(routed.rows_by_date.items())}
    with atomic_path(lake.unannounced_dir / f"{routed.batch_id}.json") as tmp:
        tmp.write_text(json.dumps(rows))


def unannounced(lake: Lake) -> dict[str, dict[date, int]]:
    """Batch id -> bronze rows by event_date, for every batch not announced yet."""
    if not lake.unannounced_dir.exists():
        return {}
    return {
        path.stem: {date.fromisoformat(d): n for d, n in json.loads(path.read_text()).items()}
        for path in sorted(lake.unannounced_dir.glob("*.json"))
    }


def settle_unannounced(lake: Lake, batch_id: str, remaining: dict[date, int]) -> None:
    """After an announcement: keep only the dates still to announce, or drop the note."""
    path = lake.unannounced_dir / f"{batch_id}.json"
    if not remaining:
        path.unlink(missing_ok=True)
        return
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({d.isoformat(): n for d, n in sorted(remaining.items())}))


def route_landing_file(lake: Lake, settings: Settings, path: LakePath) -> RoutedBatch:
    """Route a landing file already on disk and mark it."""
    routed = route_messages(
        lake, settings, batch_id_of(path), landing_date(path), list(read_landing_file(path))
    )
    mark_routed(path, routed)
    return routed


def recover_unrouted(
    lake: Lake, settings: Settings, *, now: datetime | None = None
) -> list[RoutedBatch]:
    """Route every recent landing file that lacks its marker (a crash between land and route)."""
    since = (now or datetime.now(UTC)).date() - timedelta(days=RECOVER_LOOKBACK_DAYS)
    return [
        route_landing_file(lake, settings, path)
        for path in unrouted_landing_files(lake.landing_dir, since)
    ]


def unrouted_landing_files(landing_dir: LakePath, since: date) -> list[LakePath]:
    """Landing files from `since` on without their marker; one listing a day folder, so an
    object store is not asked once a file."""
    unrouted: list[LakePath] = []
    for day in landing_day_dirs(landing_dir, since):
        listed = list(day.iterdir())
        names = {path.name for path in listed}
        unrouted.extend(
            path
            for path in sorted(p for p in listed if p.name.endswith(SUFFIX))
            if marker_path(path).name not in names
        )
    return unrouted


def partition_files(lake: Lake, event_dates: Iterable[date]) -> list[LakePath]:
    files: list[LakePath] = []
    for event_date in event_dates:
        files.extend(lake.partition_dir(BRONZE, event_date).glob("*.parquet"))
    return files


def read_bronze(lake: Lake, event_dates: Iterable[date]) -> pl.DataFrame:
    """Deduplicated bronze rows of the given partitions (the bronze_events read model)."""
    con = connect()
    try:
        bind_parquet(con, "bronze_parts", BRONZE, partition_files(lake, event_dates))
        return con.sql(load_sql("bronze", BRONZE)).pl()
    finally:
        con.close()


def read_quarantine(lake: Lake) -> pl.DataFrame:
    """Deduplicated quarantine rows, from ingestion and silver (the quarantine read model)."""
    con = connect()
    try:
        bind_parquet(con, "quarantine_parts", QUARANTINE, lake.quarantine_files())
        return con.sql(load_sql("bronze", QUARANTINE)).pl()
    finally:
        con.close()


def rebuild_bronze_partitions(
    lake: Lake, settings: Settings, event_dates: Iterable[date]
) -> dict[date, int]:
    """Rebuild partitions `event_dates` from the landing archive alone, each into one compacted
    file; returns each partition's row count. A batch never routed also gets its quarantine file.

    Each landing file is read once for the whole range: a batch holds events of several days
    (late ones too), so rebuilding day by day would parse it once per day it holds. The rows
    are staged per batch and day in a local scratch folder, so memory holds one batch, not the
    range. Then each partition loses the per-batch files of the batches read; a file written
    meanwhile by a concurrent ingest (a batch landed after the scan) survives, and the read
    model dedupes it.
    """
    wanted = set(event_dates)
    if not wanted:
        return {}
    covered: set[str] = set()
    staged: dict[date, list[Path]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="nelo-bronze-rebuild-") as scratch:
        since = min(wanted) - timedelta(days=REBUILD_LOOKBACK_DAYS)
        for path in iter_landing_files(lake.landing_dir, since=since):
            batch_id = batch_id_of(path)
            covered.add(batch_id)
            dates = marked_dates(path)
            if dates is not None and dates.isdisjoint(wanted):
                continue  # routed before, and it held nothing for these dates
            bronze, quarantined = route_batch(read_landing_file(path), batch_id, settings)
            if dates is None:
                # Never routed (older than recover_unrouted looks): its bad messages are
                # quarantined here, or nothing would ever say why they are not in bronze.
                _write_ingest_quarantine(lake, landing_date(path), batch_id, quarantined)
            for event_date in wanted & bronze.keys():
                part = Path(scratch) / event_date.isoformat() / f"{batch_id}.parquet"
                part.parent.mkdir(exist_ok=True)
                _frame(BRONZE, bronze[event_date]).write_parquet(part, compression="lz4")
                staged[event_date].append(part)
        return {
            event_date: _compact(lake, event_date, staged[event_date], covered)
            for event_date in sorted(wanted)
        }


def rebuild_bronze_partition(lake: Lake, settings: Settings, event_date: date) -> int:
    """Rebuild one partition from the landing archive (`rebuild_bronze_partitions`)."""
    return rebuild_bronze_partitions(lake, settings, [event_date])[event_date]


def _compact(lake: Lake, event_date: date, staged: list[Path], covered: set[str]) -> int:
    """Write a partition's staged rows through the read model into its compacted file, then
    drop the per-batch files of the `covered` batches; the partition's row count."""
    partition = lake.partition_dir(BRONZE, event_date)
    count = 0
    if staged:
        con = connect()
        try:
            bind_parquet(con, "bronze_parts", BRONZE, staged)
            count = write_parquet(
                con,
                BRONZE,
                load_sql("bronze", BRONZE) + " order by message_id, batch_index",
                partition / COMPACTED_NAME,
            )
        finally:
            con.close()
    else:
        (partition / COMPACTED_NAME).unlink(missing_ok=True)
    for stale in partition.glob("*.parquet"):
        if stale.stem in covered:
            stale.unlink()
    # A day without events has no partition directory, as on the live path.
    if partition.exists() and not any(partition.iterdir()):
        with suppress(OSError):  # a concurrent ingest just wrote into it: keep it
            partition.rmdir()
    return count
