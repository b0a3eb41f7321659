"""R6: a 30-partition backfill with 8 runs at once finishes with no lock error.

Eight processes materialize the daily assets of 30 partitions through Dagster, against one
instance and one lake, in shuffled order, while the views asset rewrites analytics.duckdb; with
the pools of dagster.yaml (limit 1). Twice: on the SQLite instance of `make dev` and on the
PostgreSQL instance of deploy/dagster.yaml, where live ingestion (an ingest run draining a queue
that keeps filling) runs beside the backfill, the connection count is measured in
pg_stat_activity, and no pool slot may be left claimed. A third time, smaller, with the lake on
S3 (a moto server): concurrent runs publish their partitions as objects and never interfere.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from nelo_assets.defs.bronze.assets import bronze_events
from nelo_assets.defs.gold.assets import fact_event_items, fact_events
from nelo_assets.defs.gold.views import master_list_items_engagement
from nelo_assets.defs.jobs import ingest_job
from nelo_assets.defs.marts.assets import mart_item_list_daily, mart_product_daily
from nelo_assets.defs.resources import LakeResource, SQSResource, analytics_resource
from nelo_assets.defs.silver.assets import silver
from nelo_assets.service.postgres import connection_count
from nelo_assets.serving.reader import connect_analytics
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.environment import settings_for
from nelo_assets_tests.postgres import postgres_storage
from nelo_assets_tests.queue_lake import QueueLake

START = date(2026, 4, 1)
PARTITIONS = 30
RUNS_AT_ONCE = 8
S3_PARTITIONS = 9
S3_RUNS_AT_ONCE = 4
DAILY = [
    bronze_events,
    silver,
    fact_events,
    fact_event_items,
    mart_item_list_daily,
    mart_product_daily,
]


def _resources(root: Path, lake_url: str | None) -> dict:
    settings = settings_for(root, lake_url=lake_url)
    return {
        "lake": LakeResource.from_settings(settings),
        "analytics": analytics_resource(Lake.from_settings(settings)),
    }


def _materialize(
    instance_ref: dg.InstanceRef, root: str, partition: str | None, lake_url: str | None = None
) -> bool:
    resources = _resources(Path(root), lake_url)
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        if partition is not None and partition.startswith("ingest:"):
            result = ingest_job.execute_in_process(
                run_config={"ops": {"ingest_from_sqs": {"config": {"max_seconds": 20.0}}}},
                instance=instance,
                resources={
                    **resources,
                    "sqs": SQSResource(queue_url=partition.removeprefix("ingest:")),
                },
            )
        elif partition is None:
            result = dg.materialize(
                [master_list_items_engagement], instance=instance, resources=resources
            )
        else:
            result = dg.materialize(
                DAILY, partition_key=partition, instance=instance, resources=resources
            )
        return result.success


POOLS = {"concurrency": {"pools": {"default_limit": 1, "granularity": "op"}}}


@pytest.fixture(params=["sqlite", "postgres", "sqlite-s3"])
def instance_kind(request: pytest.FixtureRequest) -> str:
    return request.param


def _live_traffic(queue: QueueLake, stop: threading.Event) -> int:
    """Send app-like messages until told to stop; returns how many."""
    sent = 0
    while not stop.wait(0.2):
        entries = [
            {"Id": str(n), "MessageBody": json.dumps({"event_id": f"live-{sent + n}"})}
            for n in range(10)
        ]
        queue.client.send_message_batch(QueueUrl=queue.queue_url, Entries=entries)
        sent += len(entries)
    return sent


def test_thirty_partitions_eight_at_once_without_lock_errors(
    tmp_path: Path, instance_kind: str, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "data"
    # On S3 every request goes to moto: fewer days, still several runs at once.
    count, workers = (
        (S3_PARTITIONS, S3_RUNS_AT_ONCE) if "s3" in instance_kind else (PARTITIONS, RUNS_AT_ONCE)
    )
    lake_url = request.getfixturevalue("s3_lake_url") if "s3" in instance_kind else None
    config = SimulationConfig(start=START, days=count, events_per_day=60, users=20, products=30)
    write_archive(config, Lake.at(lake_url, root).landing_dir)
    partitions = [(START + timedelta(days=n)).isoformat() for n in range(count)]
    random.Random(3).shuffle(partitions)
    # Views rewrites interleave with the partition runs.
    third = count // 3
    jobs: list[str | None] = [
        *partitions[:third],
        None,
        *partitions[third : 2 * third],
        None,
        *partitions[2 * third :],
    ]

    overrides = dict(POOLS)
    if instance_kind == "postgres":
        postgres_env = request.getfixturevalue("postgres_env")
        queue: QueueLake = request.getfixturevalue("queue_lake")
        overrides["storage"] = postgres_storage()
        jobs.insert(0, f"ingest:{queue.queue_url}")  # live ingestion beside the backfill
        workers += 1
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        stop = threading.Event()
        peak = [0]
        if instance_kind == "postgres":
            traffic = _ThreadWithResult(_live_traffic, queue, stop)
            watcher = _ThreadWithResult(_watch_connections, postgres_env, stop, peak)
        # spawn, not fork: forking a pytest-xdist worker (it has threads) can deadlock.
        spawn = multiprocessing.get_context("spawn")
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
                outcomes = list(
                    pool.map(
                        _materialize,
                        [instance.get_ref()] * len(jobs),
                        [str(root)] * len(jobs),
                        jobs,
                        [lake_url] * len(jobs),
                    )
                )
        finally:
            stop.set()
        assert all(outcomes)
        materialized = instance.get_materialized_partitions(dg.AssetKey("fact_events"))
        assert materialized == set(partitions)
        # No slot of a serialized pool is left claimed once every run has finished.
        for pool_name in ("analytics_duckdb", "ingest"):
            info = instance.event_log_storage.get_concurrency_info(pool_name)
            assert info.claimed_slots == [] and info.pending_steps == [], pool_name
        if instance_kind == "postgres":
            sent = traffic.result()
            max_connections = watcher.result()
            print(
                f"\npostgres: peak {peak[0]} connections of max_connections={max_connections} "
                f"with {RUNS_AT_ONCE} partition runs + 1 ingest run; {sent} live messages sent"
            )
            assert sent > 0
            assert peak[0] < max_connections // 2
            ingested = instance.get_run_records(dg.RunsFilter(job_name=ingest_job.name))
            assert [r.dagster_run.status for r in ingested] == [dg.DagsterRunStatus.SUCCESS]

    with connect_analytics(Lake(root).duckdb_path) as con:  # registers S3 when the lake is there
        days = con.execute("select count(distinct event_date) from silver_events").fetchone()[0]
    assert days == count


def _watch_connections(postgres_env: dict[str, str], stop: threading.Event, peak: list[int]) -> int:
    """Sample pg_stat_activity every 0.1 s until stopped; returns max_connections."""
    import psycopg2

    database = postgres_env["DAGSTER_PG_DB"]
    connection = psycopg2.connect(
        host=postgres_env["DAGSTER_PG_HOST"],
        port=int(postgres_env["DAGSTER_PG_PORT"]),
        user=postgres_env["DAGSTER_PG_USERNAME"],
        dbname=database,
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("show max_connections")
            max_connections = int(cursor.fetchone()[0])
        while not stop.wait(0.1):
            # Minus this watcher's own connection.
            peak[0] = max(peak[0], connection_count(connection, database) - 1)
        return max_connections
    finally:
        connection.close()


class _ThreadWithResult(threading.Thread):
    def __init__(self, target: object, *args: object) -> None:
        super().__init__(daemon=True)
        self._call = (target, args)
        self._result: object = None
        self.start()

    def run(self) -> None:
        target, args = self._call
        self._result = target(*args)

    def result(self) -> object:
        self.join(timeout=30)
        return self._result
