"""The jobs: ingest (SQS -> landing -> bronze, started by the SQS sensor) and daily_pipeline,
the whole daily chain for a backfill of a date range from the UI or the CLI."""

from dagster import (
    AssetMaterialization,
    AssetSelection,
    Config,
    OpExecutionContext,
    define_asset_job,
    job,
    op,
)
from pydantic import Field

from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource, SQSResource
from nelo_assets.ingestion.drain import (
    DEFAULT_FLUSH_SIZE,
    DEFAULT_VISIBILITY_TIMEOUT,
    DEFAULT_WAIT_SECONDS,
    drain_queue,
)

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
        **config.model_dump(),  # the config's fields are drain_queue's options, by name
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


# Bronze (from the landing archive) to the marts: what a contract fix or a lost disk re-runs.
DAILY_PIPELINE_ASSETS = (
    "bronze_events",
    "silver_events",
    "silver_items",
    "fact_events",
    "fact_event_items",
    "mart_item_list_daily",
    "mart_product_daily",
)
daily_pipeline = define_asset_job(
    "daily_pipeline",
    selection=AssetSelection.assets(*DAILY_PIPELINE_ASSETS),
    partitions_def=daily_partitions,
)
