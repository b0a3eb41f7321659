"""Silver assets: valid, flattened, de-duplicated events and their items, per event_date."""

from collections.abc import Iterator
from datetime import date

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, multi_asset

from nelo_assets.defs.common import partition_dates, partitioning, spec_kwargs
from nelo_assets.defs.metadata import days_metadata
from nelo_assets.defs.resources import LakeResource
from nelo_assets.transform.silver import build_silver_partition


def _spec(name: str, description: str) -> AssetSpec:
    return AssetSpec(
        name, deps=["bronze_events"], description=description, **spec_kwargs("silver", name)
    )


@multi_asset(
    specs=[
        _spec("silver_events", "Which valid events happened: one row per de-duplicated event."),
        _spec("silver_items", "Which products each valid event was about: one row per item."),
    ],
    **partitioning("silver_events", "silver_items"),
)
def silver(context: AssetExecutionContext, lake: LakeResource) -> Iterator[MaterializeResult]:
    results = {
        day: build_silver_partition(lake.lake, lake.settings, day)
        for day in partition_dates(context)
    }

    def by_day(count: str) -> dict[date, int]:
        return {day: getattr(result, count) for day, result in results.items()}

    yield MaterializeResult(
        asset_key="silver_events",
        metadata=days_metadata(
            "silver_events",
            by_day("events"),
            {
                count: by_day(count)
                for count in ("bronze_rows", "quarantined", "duplicates_removed")
            },
        ),
    )
    yield MaterializeResult(
        asset_key="silver_items", metadata=days_metadata("silver_items", by_day("items"))
    )
