"""Bronze in Dagster: the ingest job (SQS -> landing -> bronze) and the bronze_events asset."""

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    Config,
    MaterializeResult,
    OpExecutionContext,
    asset,
    job,
    op,
)
from pydantic import Field

from nelo_assets.assets.common import BACKFILL_POLICY, KINDS, OWNERS, partition_date
from nelo_assets.bronze import rebuild_bronze_partition
from nelo_assets.ingest import (
    DEFAULT_FLUSH_SIZE,
    DEFAULT_VISIBILITY_TIMEOUT,
    DEFAULT_WAIT_SECONDS,
    drain_queue,
)
from nelo_assets.metadata import table_metadata
from nelo_assets.partitions import daily_partitions
from nelo_assets.resources import LakeResource
from nelo_assets.sqs import SQSResource

INGEST_JOB_NAME = "ingest_job"
INGEST_POOL = "ingest"


class IngestConfig(Config):
    max_messages: int = Field(default=50_000, description="stop after this many messages")
    max_seconds: float = Field(default=240.0, description="stop receiving after this long")
    receivers: int = Field(default=4, description="concurrent long-polling receivers")
    flush_size: int = Field(default=DEFAULT_FLUSH_SIZE, description="messages per landing batch")
    visibility_timeout: int = Field(
        default=DEFAULT_VISIBILITY_TIMEOUT, description="seconds a received message stays hidden"
    )
    wait_seconds: int = Field(default=DEFAULT_WAIT_SECONDS, description="long-poll wait")


@op(pool=INGEST_POOL)
def ingest_from_sqs(
    context: OpExecutionContext, config: IngestConfig, lake: LakeResource, sqs: SQSResource
) -> None:
    """Drain the queue into landing, bronze and quarantine; report the partitions touched."""
    report = drain_queue(
        sqs.get_client(),
        sqs.queue_url,
        lake.lake,
        lake.settings,
        max_messages=config.max_messages,
        max_seconds=config.max_seconds,
        receivers=config.receivers,
        flush_size=config.flush_size,
        visibility_timeout=config.visibility_timeout,
        wait_seconds=config.wait_seconds,
        log=context.log.info,
    )
    # Downstream automation follows these events, old partitions included.
    for event_date, rows in sorted(report.events_by_date.items()):
        key = event_date.isoformat()
        if not daily_partitions.has_partition_key(key):
            # A device clock ahead of ours dated events tomorrow, whose partition does not exist
            # yet (requesting it would fail automation); the rows are safe in bronze, and the
            # next ingest that touches that day, once it exists, reports them with its own.
            context.log.warning(f"bronze_events partition {key} does not exist yet: {rows} rows")
            continue
        context.log_event(
            AssetMaterialization(
                asset_key="bronze_events", partition=key, metadata={"ingested_rows": rows}
            )
        )
    if report.quarantined:
        context.log_event(
            AssetMaterialization(
                asset_key="quarantine", metadata={"ingest_quarantined": report.quarantined}
            )
        )
    context.log.info(
        f"ingested {report.messages_received} messages: {report.events_routed} events into "
        f"{len(report.partitions_touched)} partitions, {report.quarantined} quarantined, "
        f"{report.deletes_failed} deletes failed; the oldest had waited "
        f"{report.max_queue_seconds:.0f} s in the queue"
    )


@job(name=INGEST_JOB_NAME, description="Move what is waiting on the SQS queue into bronze.")
def ingest_job() -> None:
    ingest_from_sqs()


@asset(
    partitions_def=daily_partitions,
    group_name="bronze",
    kinds=KINDS,
    owners=OWNERS,
    backfill_policy=BACKFILL_POLICY,
)
def bronze_events(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """What the app sent for each day, event by event, exactly once: the replayable raw record."""
    rows = rebuild_bronze_partition(lake.lake, lake.settings, partition_date(context))
    return MaterializeResult(metadata=table_metadata("bronze_events", rows))
