"""The SQS sensor: fast, read-only, one run at a time, and readable when the queue is broken."""

from __future__ import annotations

import json
import socket
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunRequest, SkipReason, build_sensor_context

from nelo_assets.defs.jobs import ingest_job
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource, SQSResource
from nelo_assets.defs.sensors import sqs_sensor
from nelo_assets.ingestion.bronze import RoutedBatch, record_unannounced
from nelo_assets.ingestion.sqs import QueueError
from nelo_assets_tests.environment import settings_for
from nelo_assets_tests.queue_lake import QueueLake


def _tick(
    instance: DagsterInstance,
    sqs: SQSResource,
    cursor: str | None = None,
    lake: LakeResource | None = None,
):
    lake = lake or LakeResource.from_settings(settings_for(Path("/nonexistent-nelo-lake")))
    context = build_sensor_context(
        instance=instance, cursor=cursor, resources={"sqs": sqs, "lake": lake}
    )
    started = time.monotonic()
    result = sqs_sensor(context)
    return result, context.cursor, time.monotonic() - started


def test_messages_waiting_request_one_run_fast_and_read_only(queue_lake: QueueLake) -> None:
    queue_lake.send(['{"a": 1}'] * 7)
    instance = DagsterInstance.ephemeral()

    first, cursor, _ = _tick(instance, queue_lake.sqs, json.dumps({"sequence": 41}))
    # Ticks run in a long-lived code server: the first one also builds the cached client.
    second, next_cursor, seconds = _tick(instance, queue_lake.sqs, cursor)

    assert isinstance(first, RunRequest) and first.run_key == "ingest-42"
    assert json.loads(cursor) == {"sequence": 42}
    assert isinstance(second, RunRequest) and second.run_key == "ingest-43"
    assert json.loads(next_cursor) == {"sequence": 43}
    assert seconds < 1.0
    assert queue_lake.counts() == (7, 0)  # nothing received, nothing deleted


def test_empty_queue_skips(queue_lake: QueueLake) -> None:
    result, cursor, _ = _tick(DagsterInstance.ephemeral(), queue_lake.sqs)

    assert isinstance(result, SkipReason)
    assert result.skip_message == "queue empty"
    assert cursor is None


def test_run_in_flight_skips(queue_lake: QueueLake) -> None:
    queue_lake.send(['{"a": 1}'])
    instance = DagsterInstance.ephemeral()
    run = instance.create_run_for_job(ingest_job, status=DagsterRunStatus.STARTED)

    result, _, _ = _tick(instance, queue_lake.sqs)

    assert isinstance(result, SkipReason)
    assert result.skip_message == f"ingest run {run.run_id} still in flight"
    instance.report_run_failed(run)
    assert isinstance(_tick(instance, queue_lake.sqs)[0], RunRequest)


def test_missing_queue_fails_the_tick_with_one_line(queue_lake: QueueLake) -> None:
    missing = SQSResource(queue_url=queue_lake.queue_url + "-missing")

    with pytest.raises(QueueError) as error:
        _tick(DagsterInstance.ephemeral(), missing)

    assert "NonExistentQueue" in str(error.value)
    assert "\n" not in str(error.value)


def test_endpoint_down_fails_the_tick_quickly(queue_lake: QueueLake) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = SQSResource(queue_url=queue_lake.queue_url, endpoint_url=f"http://127.0.0.1:{port}")
    started = time.monotonic()

    with pytest.raises(QueueError) as error:
        _tick(DagsterInstance.ephemeral(), down)

    assert time.monotonic() - started < 5
    assert "Could not connect" in str(error.value) and "\n" not in str(error.value)


def test_bronze_a_crashed_run_left_unannounced_requests_a_run(queue_lake: QueueLake) -> None:
    lake = LakeResource.from_settings(queue_lake.settings)
    tomorrow = date.fromisoformat(daily_partitions.get_last_partition_key()) + timedelta(days=1)
    record_unannounced(queue_lake.lake, RoutedBatch("b-future", rows_by_date={tomorrow: 3}))
    # A note for a partition that does not exist yet waits: no run every tick for a day.
    result, _, _ = _tick(DagsterInstance.ephemeral(), queue_lake.sqs, lake=lake)
    assert isinstance(result, SkipReason)
    assert result.skip_message == "queue empty"

    day = date.fromisoformat(daily_partitions.get_last_partition_key()) - timedelta(days=2)
    record_unannounced(queue_lake.lake, RoutedBatch("b-past", rows_by_date={day: 5}))
    result, _, _ = _tick(DagsterInstance.ephemeral(), queue_lake.sqs, lake=lake)
    assert isinstance(result, RunRequest)
    assert result.tags["nelo/unannounced_batches"] == "1"
