"""Range runs (a backfill chunk): every day of the range is built, as the plain pipeline builds
it, and a check evaluates every day, failing the run's result (and blocking) when one day fails,
with each day's own result recorded on its partition."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetChecksDefinition,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    define_asset_job,
)

from nelo_assets.defs.bronze.assets import bronze_events
from nelo_assets.defs.bronze.checks import bronze_events_checks
from nelo_assets.defs.gold.assets import fact_event_items, fact_events
from nelo_assets.defs.gold.checks import fact_event_items_checks, fact_events_checks
from nelo_assets.defs.marts import checks as mart_checks
from nelo_assets.defs.marts.assets import (
    mart_item_list_daily,
    mart_list_position_daily,
    mart_product_daily,
)
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource
from nelo_assets.defs.silver import checks as silver_checks
from nelo_assets.defs.silver.assets import silver
from nelo_assets.ingestion.bronze import rebuild_bronze_partition
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.pipeline import build_partitions
from nelo_assets_tests.clean_day import (
    CHECK_DAY,
    CHECK_LIMITS,
    check_lake_resource,
    clean_bronze_row,
)
from nelo_assets_tests.environment import at, settings_for
from nelo_assets_tests.rows import read_rows, write_rows

FIRST = date(2026, 4, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(3)]
DAILY_ASSETS = [
    bronze_events,
    silver,
    fact_events,
    fact_event_items,
    mart_item_list_daily,
    mart_product_daily,
    mart_list_position_daily,
]
DAILY_CHECKS = [
    bronze_events_checks,
    silver_checks.silver_checks,
    fact_events_checks,
    fact_event_items_checks,
    mart_checks.mart_item_list_daily_checks,
    mart_checks.mart_product_daily_checks,
    mart_checks.mart_list_position_daily_checks,
]
MART_FILES = ("mart_item_list_daily", "mart_product_daily_metrics", "mart_list_position_daily")


def run_range(
    assets: list[AssetsDefinition],
    checks: list[AssetChecksDefinition],
    days: list[date],
    lake: LakeResource,
    instance: DagsterInstance,
) -> ExecuteInProcessResult:
    """One run over days[0]..days[-1], tagged as the backfill daemon tags a chunk's run."""
    job = define_asset_job(
        "range", selection=AssetSelection.assets(*assets), partitions_def=daily_partitions
    )
    defs = Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[job],
        resources={"lake": lake, "checks": CHECK_LIMITS},
    )
    return defs.resolve_job_def("range").execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat(),
        },
        raise_on_error=False,
    )


def _sorted_rows(path: Path) -> list[dict[str, Any]]:
    return sorted(read_rows(path), key=lambda row: json.dumps(row, sort_keys=True, default=str))


def test_a_range_run_builds_every_day_as_the_plain_pipeline_does(tmp_path: Path) -> None:
    config = SimulationConfig(start=FIRST, days=len(DAYS), events_per_day=80, users=20, products=30)
    dagster_lake, plain_lake = Lake(tmp_path / "dagster"), Lake(tmp_path / "plain")
    for lake in (dagster_lake, plain_lake):
        write_archive(config, lake.landing_dir)
    instance = DagsterInstance.ephemeral()
    result = run_range(
        DAILY_ASSETS,
        DAILY_CHECKS,
        DAYS,
        LakeResource.from_settings(settings_for(dagster_lake.root)),
        instance,
    )
    assert result.success
    assert len(instance.get_runs()) == 1

    settings = settings_for(plain_lake.root)
    for day in DAYS:
        rebuild_bronze_partition(plain_lake, settings, day)
    build_partitions(plain_lake, settings, DAYS)
    for table in MART_FILES:
        for day in DAYS:
            built = _sorted_rows(dagster_lake.partition_file(table, day))
            assert built, (table, day)
            assert built == _sorted_rows(plain_lake.partition_file(table, day)), (table, day)

    keys = {day.isoformat() for day in DAYS}
    for asset in ("bronze_events", "silver_events", "fact_event_items", "mart_product_daily"):
        assert instance.get_materialized_partitions(AssetKey(asset)) == keys, asset
    # Every day carries the range's metadata: the total, and each day's rows.
    events = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path == ["fact_events"]
    ]
    assert {e.partition for e in events} == keys
    metadata = events[0].materialization.metadata
    by_day = metadata["rows_by_day"].value
    assert list(by_day) == sorted(keys) and all(by_day.values())
    assert metadata["dagster/row_count"].value == sum(by_day.values())
    # Each check evaluated each day, recorded on its partition, and once for the run.
    schema = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "fact_events_schema"
    ]
    assert sorted(e.partition or "run" for e in schema) == [*sorted(keys), "run"]
    assert all(e.passed for e in schema)
    # The UI shows a day's check state only when the evaluation names that day's latest build;
    # without it, every day of a backfill read "Not evaluated".
    infos = instance.event_log_storage.get_asset_check_partition_info(
        [AssetCheckKey(AssetKey("fact_events"), "fact_events_schema")]
    )
    assert {info.partition_key for info in infos if info.is_current} - {None} == keys


def _bronze(day: date, n: int, event_day: date | None = None) -> dict[str, Any]:
    """A valid screen_view on `day` (or, mis-routed, on `event_day`) in bronze partition `day`."""
    ts = at(event_day or day, 13, n)
    event = {
        "event_id": f"e-{day}-{n}",
        "event_name": "screen_view",
        "event_timestamp": ts.isoformat(),
        "user_id": "u1",
        "platform": "ios",
    }
    return {**clean_bronze_row(f"m-{day}-{n}", event, ts), "event_date": day}


def test_a_range_run_check_fails_when_one_day_fails_and_names_it(tmp_path: Path) -> None:
    days = [CHECK_DAY - timedelta(days=2 - n) for n in range(3)]
    bad = days[1]
    lake = Lake(tmp_path / "data")
    for day in days:
        rows = [_bronze(day, 1), _bronze(day, 2)]
        if day == bad:
            rows.append(_bronze(day, 3, event_day=day + timedelta(days=3)))
        write_rows(
            lake.partition_dir("bronze_events", day) / "batch-1.parquet", "bronze_events", rows
        )
    instance = DagsterInstance.ephemeral()

    result = run_range(
        [silver, fact_events],
        [silver_checks.silver_checks, fact_events_checks],
        days,
        check_lake_resource(lake.root),
        instance,
    )

    assert not result.success
    keys = {day.isoformat() for day in days}
    assert instance.get_materialized_partitions(AssetKey("silver_events")) == keys
    # The blocking check stopped fact_events for the whole chunk.
    assert instance.get_materialized_partitions(AssetKey("fact_events")) == set()
    assert not any(lake.partition_file("fact_events", day).exists() for day in days)

    schema = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "silver_events_schema"
    ]
    by_day = {e.partition: e.passed for e in schema if e.partition}
    assert by_day == {day.isoformat(): day != bad for day in days}
    (run_result,) = [e for e in schema if e.partition is None]
    assert not run_result.passed
    assert run_result.description.startswith(f"failed on {bad} (of {days[0]}...{days[-1]})")
    assert run_result.metadata["failed_days"].value == bad.isoformat()
    # What the UI shows per day: each partition's latest result.
    history = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey("silver_events"), "silver_events_schema"), limit=10
    )
    statuses = {r.partition: r.status.value for r in history if r.partition}
    assert statuses == {day.isoformat(): "FAILED" if day == bad else "SUCCEEDED" for day in days}
    # Other checks of the same step pass on every day, the run's result included.
    key_check = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "silver_events_key"
    ]
    assert len(key_check) == len(days) + 1 and all(e.passed for e in key_check)
