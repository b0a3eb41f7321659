"""R6: a 30-partition backfill with 8 runs at once finishes with no lock error.

Eight processes materialize the daily assets of 30 partitions through Dagster, against one
on-disk instance and one lake, in shuffled order, while the views asset rewrites analytics.duckdb.
"""

from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from nelo_assets.defs.bronze.assets import bronze_events
from nelo_assets.defs.gold.assets import fact_event_items, fact_events
from nelo_assets.defs.gold.views import master_list_items_engagement
from nelo_assets.defs.marts.assets import mart_item_list_daily, mart_product_daily
from nelo_assets.defs.resources import LakeResource, analytics_resource
from nelo_assets.defs.silver.assets import silver
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.helpers import settings_for

START = date(2026, 4, 1)
PARTITIONS = 30
RUNS_AT_ONCE = 8
DAILY = [
    bronze_events,
    silver,
    fact_events,
    fact_event_items,
    mart_item_list_daily,
    mart_product_daily,
]


def _resources(root: Path) -> dict:
    settings = settings_for(root)
    return {
        "lake": LakeResource.from_settings(settings),
        "analytics": analytics_resource(Lake(root)),
    }


def _materialize(instance_ref: dg.InstanceRef, root: str, partition: str | None) -> bool:
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        if partition is None:
            result = dg.materialize(
                [master_list_items_engagement], instance=instance, resources=_resources(Path(root))
            )
        else:
            result = dg.materialize(
                DAILY, partition_key=partition, instance=instance, resources=_resources(Path(root))
            )
        return result.success


def test_thirty_partitions_eight_at_once_without_lock_errors(tmp_path: Path) -> None:
    root = tmp_path / "data"
    config = SimulationConfig(
        start=START, days=PARTITIONS, events_per_day=60, users=20, products=30
    )
    write_archive(config, Lake(root).landing_dir)
    partitions = [(START + timedelta(days=n)).isoformat() for n in range(PARTITIONS)]
    random.Random(3).shuffle(partitions)
    # Views rewrites interleave with the partition runs.
    jobs: list[str | None] = [*partitions[:10], None, *partitions[10:20], None, *partitions[20:]]

    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        # spawn, not fork: forking a pytest-xdist worker (it has threads) can deadlock.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=RUNS_AT_ONCE, mp_context=spawn) as pool:
            outcomes = list(
                pool.map(
                    _materialize, [instance.get_ref()] * len(jobs), [str(root)] * len(jobs), jobs
                )
            )
        assert all(outcomes)
        materialized = instance.get_materialized_partitions(dg.AssetKey("fact_events"))
        assert materialized == set(partitions)

    with duckdb.connect(str(Lake(root).duckdb_path), read_only=True) as con:
        days = con.execute("select count(distinct event_date) from silver_events").fetchone()[0]
    assert days == PARTITIONS
