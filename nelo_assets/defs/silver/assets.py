"""Silver assets: valid, flattened, de-duplicated events and their items, per event_date."""

from collections.abc import Iterator

from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, multi_asset

from nelo_assets.defs.common import partition_date, partitioning, spec_kwargs
from nelo_assets.defs.metadata import table_metadata
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
    result = build_silver_partition(lake.lake, lake.settings, partition_date(context))
    yield MaterializeResult(
        asset_key="silver_events",
        metadata=table_metadata(
            "silver_events",
            result.events,
            bronze_rows=result.bronze_rows,
            quarantined=result.quarantined,
            duplicates_removed=result.duplicates_removed,
        ),
    )
    yield MaterializeResult(
        asset_key="silver_items", metadata=table_metadata("silver_items", result.items)
    )
