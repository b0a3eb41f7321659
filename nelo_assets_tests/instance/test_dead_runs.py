"""The parts of crash recovery, fast: the run worker health check, the ingest run announcing what
a dead run left unannounced, and the pipeline health alerts (test_crash_recovery.py runs them
all together against a real `dagster dev`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, timedelta
from unittest import mock

import psutil
import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DagsterRunStatus,
    SkipReason,
    build_sensor_context,
)

# The verdict Dagster's freshness daemon records; Dagster exports no public constructor for it,
# and the daemon needs a policy window of a minute or more to say FAIL.
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_docker import DockerRunLauncher

from nelo_assets.defs.alerts import health as pipeline_health
from nelo_assets.defs.jobs import ingest_job
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import AlertsResource, LakeResource
from nelo_assets.ingestion.bronze import RoutedBatch, record_unannounced, unannounced
from nelo_assets.instance.container_run_launcher import ContainerRunLauncher
from nelo_assets.instance.run_launcher import DEAD_WORKER, worker_status
from nelo_assets_tests.queue_lake import QueueLake

LAST = date.fromisoformat(daily_partitions.get_last_partition_key() or "")


def test_worker_health_follows_the_recorded_process() -> None:
    me = psutil.Process()
    assert worker_status(me.pid, time.time(), exited=False).status.value == "RUNNING"
    # Not launched as a worker subprocess: nothing to watch, never failed for it.
    assert worker_status(None, 0.0, exited=False).status.value == "RUNNING"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = worker_status(gone.pid, time.time(), exited=False)
    assert dead.status.value == "NOT_FOUND" and DEAD_WORKER in (dead.msg or "")
    # The pid now belongs to a process started after the worker logged it: a reboot reused it.
    reused = worker_status(me.pid, me.create_time() - 60, exited=False)
    assert reused.status.value == "NOT_FOUND" and "newer process" in (reused.msg or "")
    assert worker_status(me.pid, time.time(), exited=True).status.value == "FAILED"


def test_ingest_run_announces_what_a_dead_run_left(queue_lake: QueueLake) -> None:
    day = LAST - timedelta(days=5)
    future = LAST + timedelta(days=1)
    record_unannounced(queue_lake.lake, RoutedBatch("b-dead", rows_by_date={day: 4, future: 1}))
    instance = DagsterInstance.ephemeral()
    result = ingest_job.execute_in_process(
        instance=instance,
        resources={"lake": LakeResource.from_settings(queue_lake.settings), "sqs": queue_lake.sqs},
    )
    assert result.success
    announced = [
        m.partition
        for m in result.asset_materializations_for_node("ingest_from_sqs")
        if m.asset_key == AssetKey("bronze_events")
    ]
    assert announced == [day.isoformat()]
    # The date whose partition does not exist yet stays noted for a later run.
    assert unannounced(queue_lake.lake) == {"b-dead": {future: 1}}


class Health:
    """Ticks pipeline_health_sensor like the daemon, carrying its cursor."""

    def __init__(self, queue_lake: QueueLake, **limits: int) -> None:
        self.instance = DagsterInstance.ephemeral()
        self.queue_lake = queue_lake
        self.resource = AlertsResource(webhook_url=None, **limits)
        self.cursor: str | None = None

    def __call__(self) -> dict[str, float]:
        from nelo_assets.definitions import defs

        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=defs,
            resources={"alerts": self.resource, "sqs": self.queue_lake.sqs},
        )
        started = time.monotonic()
        result = pipeline_health.pipeline_health_sensor(context)
        assert time.monotonic() - started < 5  # R5
        assert isinstance(result, SkipReason)
        self.cursor = context.cursor
        return json.loads(self.cursor)["open"]


def test_stall_alerts_once_and_recovers_once(queue_lake: QueueLake) -> None:
    health = Health(queue_lake, stall_seconds=1)
    hung = health.instance.create_run_for_job(ingest_job, status=DagsterRunStatus.STARTED)
    assert health() == {}  # the backlog starts now
    time.sleep(1.5)
    assert set(health()) == {pipeline_health.STALL}
    opened = health()[pipeline_health.STALL]
    assert health()[pipeline_health.STALL] == opened  # one alert per incident
    health.instance.delete_run(hung.run_id)
    result = ingest_job.execute_in_process(
        instance=health.instance,
        resources={"lake": LakeResource.from_settings(queue_lake.settings), "sqs": queue_lake.sqs},
    )
    assert result.success
    assert health() == {}


def _succeeded_ingest(health: Health, queue_lake: QueueLake) -> None:
    result = ingest_job.execute_in_process(
        instance=health.instance,
        resources={"lake": LakeResource.from_settings(queue_lake.settings), "sqs": queue_lake.sqs},
    )
    assert result.success


def test_the_stall_clock_starts_at_the_last_successful_ingest(queue_lake: QueueLake) -> None:
    """A health sensor that was down (a crash, a restart) while ingestion hung alerts at its
    first tick back: the clock did not wait for a tick to see the backlog."""
    health = Health(queue_lake, stall_seconds=1)
    _succeeded_ingest(health, queue_lake)
    time.sleep(1.5)
    health.instance.create_run_for_job(ingest_job, status=DagsterRunStatus.STARTED)
    assert set(health()) == {pipeline_health.STALL}


def test_an_idle_queue_restarts_the_stall_clock(queue_lake: QueueLake) -> None:
    """Nothing to ingest for a while after the last success is no stall: the clock restarts at
    the last tick that saw nothing waiting."""
    stall = 5  # seconds; the two ticks after the idle one must fall within it, even under load
    health = Health(queue_lake, stall_seconds=stall)
    _succeeded_ingest(health, queue_lake)
    time.sleep(stall + 0.5)
    assert health() == {}  # idle: no message waits, no run in flight
    health.instance.create_run_for_job(ingest_job, status=DagsterRunStatus.STARTED)
    assert health() == {}
    time.sleep(stall + 0.5)
    assert set(health()) == {pipeline_health.STALL}


def _freshness_verdict(instance: DagsterInstance, state: FreshnessState) -> None:
    instance.report_runless_asset_event(
        FreshnessStateChange(
            key=AssetKey("bronze_events"),
            previous_state=FreshnessState.UNKNOWN,
            new_state=state,
            state_change_timestamp=time.time(),
        )
    )


def test_a_failing_freshness_policy_alerts_until_fresh_again(queue_lake: QueueLake) -> None:
    health = Health(queue_lake)
    assert health() == {}
    _freshness_verdict(health.instance, FreshnessState.FAIL)
    not_fresh = f"{pipeline_health.NOT_FRESH}|bronze_events"
    assert set(health()) == {not_fresh}
    opened = health()[not_fresh]
    assert health()[not_fresh] == opened  # one alert per incident
    _freshness_verdict(health.instance, FreshnessState.PASS)
    assert health() == {}


def test_dead_letters_alert_until_the_dlq_is_empty(queue_lake: QueueLake) -> None:
    health = Health(queue_lake)
    assert health() == {}
    queue_lake.client.send_message(QueueUrl=queue_lake.dlq_url, MessageBody="{poison")
    assert set(health()) == {pipeline_health.DEAD_LETTERS}
    queue_lake.client.purge_queue(QueueUrl=queue_lake.dlq_url)
    assert health() == {}


@pytest.mark.parametrize("days_back", [1, 10], ids=["yesterday", "late events ten days back"])
def test_a_mart_behind_its_bronze_is_stale_until_rebuilt(
    queue_lake: QueueLake, days_back: int
) -> None:
    health = Health(queue_lake, mart_lag_seconds=1)
    day = (LAST - timedelta(days=days_back)).isoformat()
    health.instance.report_runless_asset_event(AssetMaterialization("bronze_events", partition=day))
    assert health() == {}, "not stale before the lag has passed"
    time.sleep(1.1)
    stale = {key for key in health() if key.startswith(pipeline_health.STALE_MART)}
    assert f"{pipeline_health.STALE_MART}|mart_product_daily|{day}" in stale
    for key in stale:
        _, mart, _ = key.split("|")
        health.instance.report_runless_asset_event(AssetMaterialization(mart, partition=day))
    assert health() == {}


@pytest.mark.parametrize("status", [WorkerStatus.NOT_FOUND, WorkerStatus.FAILED])
def test_a_dead_run_container_is_reported_as_a_dead_worker(status: WorkerStatus) -> None:
    # A run container gone or exited needs Docker (make test-containers kills one for real);
    # here DockerRunLauncher's verdict stands in, so the run alert's wording is checked.
    verdict = CheckRunHealthResult(status, msg="Could not find container with ID c0ffee.")
    launcher = object.__new__(ContainerRunLauncher)
    with mock.patch.object(DockerRunLauncher, "check_run_worker_health", return_value=verdict):
        health = launcher.check_run_worker_health(mock.sentinel.run)
    assert health.status == status
    assert health.msg == f"{DEAD_WORKER}: Could not find container with ID c0ffee."


def test_a_running_run_container_is_left_as_it_is() -> None:
    verdict = CheckRunHealthResult(WorkerStatus.RUNNING)
    launcher = object.__new__(ContainerRunLauncher)
    with mock.patch.object(DockerRunLauncher, "check_run_worker_health", return_value=verdict):
        assert launcher.check_run_worker_health(mock.sentinel.run) == verdict
