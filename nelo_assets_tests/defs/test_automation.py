"""Late events re-materialize exactly the partitions they affect, old ones included, with no clicks."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from nelo_assets.definitions import defs
from nelo_assets.defs.jobs import DAILY_PIPELINE_ASSETS
from nelo_assets.transform.business_rules import ATTRIBUTION_LOOKBACK_DAYS, SESSION_LOOKBACK_DAYS


def _days(start: date, count: int) -> set[str]:
    return {(start + timedelta(days=n)).isoformat() for n in range(count)}


def _report_bronze(instance: dg.DagsterInstance, partition: date) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="bronze_events", partition=partition.isoformat())
    )


def test_late_bronze_partition_requests_exactly_its_dependents() -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0, "nothing was ever materialized: nothing to do"

    old_day = date(2026, 3, 10)  # far outside the latest time window
    _report_bronze(instance, old_day)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)

    def requested(key: str) -> set[str | None]:
        return set(result.get_requested_partitions(dg.AssetKey(key)))

    assert requested("silver_events") == {old_day.isoformat()}
    assert requested("silver_items") == {old_day.isoformat()}
    assert requested("fact_events") == _days(old_day, SESSION_LOOKBACK_DAYS + 1)
    assert requested("fact_event_items") == _days(old_day, ATTRIBUTION_LOOKBACK_DAYS + 1)
    assert requested("mart_item_list_daily") == _days(old_day, ATTRIBUTION_LOOKBACK_DAYS + 1)
    assert requested("mart_product_daily") == _days(old_day, ATTRIBUTION_LOOKBACK_DAYS + 1)
    assert requested("mart_list_position_daily") == _days(old_day, ATTRIBUTION_LOOKBACK_DAYS + 1)
    unpartitioned = {"dim_items", "dim_users", "master_list_items_engagement", "quarantine"}
    # quarantine follows bronze at once (ingest quarantine); the others wait for the partitions.
    assert requested("quarantine") == {None}
    for name in unpartitioned - {"quarantine"}:
        assert not requested(name), name

    # Time passes (a tick while the runs start), then the requested runs complete: the
    # unpartitioned tables follow on the next tick, once.
    quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert quiet.total_requested == 0
    for name in DAILY_PIPELINE_ASSETS[1:]:  # every daily asset after bronze
        for partition in requested(name):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=name, partition=partition)
            )
    after_runs = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=quiet.cursor
    )
    for name in unpartitioned:
        assert set(after_runs.get_requested_partitions(dg.AssetKey(name))) == {None}, name
    assert after_runs.total_requested == len(unpartitioned)

    again = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=after_runs.cursor
    )
    assert again.total_requested == 0, "a handled update is not requested twice"
