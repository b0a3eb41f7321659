"""The sensors that start work: the SQS sensor (an ingest run when messages wait, or a crashed run
left bronze unannounced, and none is in flight; it only reads, R5) and the automation sensor
that follows upstream changes."""

import json

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from nelo_assets.defs.jobs import INGEST_JOB_NAME, RUNS_IN_FLIGHT, ingest_job
from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource, SQSResource
from nelo_assets.ingestion.bronze import unannounced
from nelo_assets.ingestion.sqs import queue_counts


def _sequence(cursor: str | None) -> int:
    """The number of the last run requested; run keys are built from it, so they never repeat."""
    return int(json.loads(cursor)["sequence"]) if cursor else 0


@sensor(
    job=ingest_job,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SETTINGS.sensor_interval_seconds,
)
def sqs_sensor(
    context: SensorEvaluationContext, sqs: SQSResource, lake: LakeResource
) -> RunRequest | SkipReason:
    """Request one ingest run when the queue has messages, or a crashed ingest run left bronze
    partitions unannounced, and no ingest run is in flight."""
    in_flight = context.instance.get_run_records(
        RunsFilter(job_name=INGEST_JOB_NAME, statuses=RUNS_IN_FLIGHT), limit=1
    )
    if in_flight:
        # A run whose worker died is failed by run monitoring (instance/run_launcher.py), so this
        # clears by itself after a crash.
        return SkipReason(f"ingest run {in_flight[0].dagster_run.run_id} still in flight")
    # A few small files at most: batches routed by a run that died before announcing them.
    last_key = daily_partitions.get_last_partition_key()
    left_over = [
        batch
        for batch, rows in unannounced(lake.lake).items()
        if any(d.isoformat() <= (last_key or "") for d in rows)
    ]
    waiting, hidden = queue_counts(sqs.get_client(quick=True), sqs.queue_url)
    if waiting == 0 and not left_over:
        return SkipReason(
            f"queue empty ({hidden} messages being processed)" if hidden else "queue empty"
        )
    sequence = _sequence(context.cursor) + 1
    context.update_cursor(json.dumps({"sequence": sequence}))
    tags = {"nelo/queue_waiting": str(waiting)}
    if left_over:
        tags["nelo/unannounced_batches"] = str(len(left_over))
    return RunRequest(run_key=f"ingest-{sequence}", tags=tags)


automation_sensor = AutomationConditionSensorDefinition(
    "automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SETTINGS.automation_interval_seconds,
    # follow_upstream() holds Python conditions (defs/automation.py): it runs in the code server.
    use_user_code_server=True,
    # One run per requested day, carrying it from silver to the marts, instead of a backfill
    # whose daemon starts one layer every 30 s; follow_upstream() orders the days.
    emit_backfills=False,
)
