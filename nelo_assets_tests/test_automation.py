"""Late events re-materialize exactly the partitions they affect, old ones included, with no clicks."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from nelo_assets.definitions import defs
from nelo_assets.partitions import ATTRIBUTION_LOOKBACK_DAYS, SESSION_LOOKBACK_DAYS


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
    for unpartitioned in ("dim_items", "dim_users", "master_list_items_engagement", "quarantine"):
        assert requested(unpartitioned) == {None}, unpartitioned

    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert again.total_requested == 0, "a handled update is not requested twice"
