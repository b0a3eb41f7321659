"""The jobs: ingest (SQS -> landing -> bronze, started by the SQS sensor) and daily_pipeline,
the whole daily chain for a backfill of a date range from the UI or the CLI."""

from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, date, datetime

from dagster import (
    AssetMaterialization,
    AssetSelection,
    Config,
    DagsterRunStatus,
    OpExecutionContext,
    define_asset_job,
    job,
    op,
)
from pydantic import Field

from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource, SQSResource
from nelo_assets.ingestion.bronze import settle_unannounced, unannounced
from nelo_assets.ingestion.compaction import compact_settled_days
from nelo_assets.ingestion.drain import (
    DEFAULT_FLUSH_SIZE,
    DEFAULT_MAX_BUFFER_SECONDS,
    DEFAULT_VISIBILITY_TIMEOUT,
    DEFAULT_WAIT_SECONDS,
    drain_queue,
    pause_point,
)
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.pipeline import PARTITION_BUILDS

INGEST_JOB_NAME = "ingest_job"
INGEST_POOL = "ingest"
# A run that has not ended: queued, launching or running (sensors and automation skip or wait).
RUNS_IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
# How often a running ingest run announces the bronze its batches have routed.
ANNOUNCE_EVERY_SECONDS = 2.0
AHEAD_NOTE = (
    "events dated after today: device clocks run up to 24 h ahead (docs/events.md), so this day "
    "is built before it starts"
)


class IngestConfig(Config):
    max_messages: int = Field(default=50_000, description="stop after this many messages")
    # Short enough that bronze reaches Dagster (and automation) every two minutes under steady
    # traffic; each run costs a few seconds of process start-up.
    max_seconds: float = Field(default=120.0, description="stop receiving after this long")
    receivers: int = Field(default=4, description="concurrent long-polling receivers")
    flush_size: int = Field(default=DEFAULT_FLUSH_SIZE, description="messages per landing batch")
    visibility_timeout: int = Field(
        default=DEFAULT_VISIBILITY_TIMEOUT, description="seconds a received message stays hidden"
    )
    wait_seconds: int = Field(default=DEFAULT_WAIT_SECONDS, description="long-poll wait")
    max_buffer_seconds: float = Field(
        default=DEFAULT_MAX_BUFFER_SECONDS, description="seconds before a part-filled batch lands"
    )


def _announce(
    context: OpExecutionContext, lake: Lake, batches: dict[str, dict[date, int]]
) -> Iterator[AssetMaterialization]:
    """Materialize bronze_events for every date these routed batches wrote, then drop their
    notes. Downstream automation follows these events, old partitions included.

    Yielded, not logged with context.log_event: the op resumes after a yield only once Dagster
    has stored the event, so a note is never dropped before its announcement is durable.
    """
    if not batches:
        return
    pause_point("before_announce")
    rows: dict[date, int] = defaultdict(int)
    for by_date in batches.values():
        for event_date, count in by_date.items():
            rows[event_date] += count
    future = {d for d in rows if not daily_partitions.has_partition_key(d.isoformat())}
    for event_date in sorted(future):
        context.log.warning(
            f"bronze_events partition {event_date} does not exist yet: {rows[event_date]} rows"
        )
    today = datetime.now(SETTINGS.tz).date()
    for event_date in sorted(rows.keys() - future):
        metadata: dict[str, int | str] = {"ingested_rows": rows[event_date]}
        if event_date > today:
            # The one reason a day after today is built: say it where the partition shows.
            metadata["dated_ahead"] = AHEAD_NOTE
        yield AssetMaterialization(
            asset_key="bronze_events", partition=event_date.isoformat(), metadata=metadata
        )
    for batch_id, by_date in batches.items():
        # A device clock ahead of ours dated events tomorrow, whose partition does not exist yet
        # (requesting it would fail automation); the rows are safe in bronze, and their note
        # keeps those dates until an ingest run finds the partition exists.
        settle_unannounced(lake, batch_id, {d: n for d, n in by_date.items() if d in future})


def _announceable(lake: Lake, held_back: set[str]) -> dict[str, dict[date, int]]:
    """The notes to announce now: all but those that hold only not-yet-existing dates, which
    were seen once already in this run (they wait for their partition, not for us)."""
    notes = unannounced(lake)
    for batch_id, by_date in notes.items():
        if not any(daily_partitions.has_partition_key(d.isoformat()) for d in by_date):
            held_back.add(batch_id)
    return {batch: rows for batch, rows in notes.items() if batch not in held_back}


@op(pool=INGEST_POOL, out={})  # no output: it yields only its asset materializations
def ingest_from_sqs(
    context: OpExecutionContext, config: IngestConfig, lake: LakeResource, sqs: SQSResource
) -> Iterator[AssetMaterialization]:
    """Drain the queue into landing, bronze and quarantine; report the partitions touched."""
    # First what earlier ingest runs routed but did not live to announce (R10).
    held_back: set[str] = set()
    left_over = _announceable(lake.lake, held_back)
    if left_over:
        context.log.warning(
            f"announcing {len(left_over)} landing batches routed by an ingest run that ended "
            "before announcing them (a crash)"
        )
        yield from _announce(context, lake.lake, left_over)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nelo-drain") as pool:
        draining = pool.submit(
            drain_queue,
            sqs.get_client(),
            sqs.queue_url,
            lake.lake,
            lake.settings,
            **config.model_dump(),  # the config's fields are drain_queue's options, by name
            log=context.log.info,
        )
        # Announce each routed batch within seconds, not when the run ends: automation builds
        # the marts while this run keeps receiving (the run may last `max_seconds`).
        while not wait([draining], timeout=ANNOUNCE_EVERY_SECONDS).done:
            yield from _announce(context, lake.lake, _announceable(lake.lake, held_back))
        report = draining.result()
    yield from _announce(context, lake.lake, _announceable(lake.lake, held_back))
    if report.quarantined:
        yield AssetMaterialization(
            asset_key="quarantine", metadata={"ingest_quarantined": report.quarantined}
        )
    context.log.info(
        f"ingested {report.messages_received} messages: {report.events_routed} events into "
        f"{len(report.partitions_touched)} partitions, {report.quarantined} quarantined, "
        f"{report.deletes_failed} deletes failed; the oldest had waited "
        f"{report.max_queue_seconds:.0f} s in the queue"
    )
    # Days ingestion has moved past, folded into one file each (docs/decisions.md, "Bronze
    # compaction"). Here, because one ingest run at a time (its pool) is one compaction at a time.
    for done in compact_settled_days(lake.lake, lake.settings, datetime.now(UTC)):
        context.log.info(
            f"compacted bronze {done.event_date}: {done.folded} files into one "
            f"({done.rows} rows); deleted {done.deleted} files folded earlier"
        )


@job(
    name=INGEST_JOB_NAME,
    description="Move what is waiting on the SQS queue into bronze.",
    tags={
        # Never re-executed by run retries: the SQS sensor requests a new run once this one has
        # ended, and a retry beside it would be a second ingest run (dagster.yaml, run_retries).
        "dagster/max_retries": "0",
        # First out of the run queue: after a restart, automation queues a run per day to
        # rebuild, and an ingest run behind them waited 3.5 min while messages piled up.
        "dagster/priority": "1",
    },
)
def ingest_job() -> None:
    ingest_from_sqs()


# Bronze (from the landing archive) to the marts: what a contract fix or a lost disk re-runs.
# Bronze, then the assets of the one-process pipeline's steps, in their order.
DAILY_PIPELINE_ASSETS = (
    "bronze_events",
    *(asset for step in PARTITION_BUILDS for asset in step.assets),
)
daily_pipeline = define_asset_job(
    "daily_pipeline",
    selection=AssetSelection.assets(*DAILY_PIPELINE_ASSETS),
    partitions_def=daily_partitions,
)
