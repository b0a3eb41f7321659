"""Gold assets: facts with sessions and list attribution, the item and user dimensions."""

from dagster import AssetDep, AssetExecutionContext, MaterializeResult, asset

from nelo_assets.defs.common import asset_kwargs, partition_dates
from nelo_assets.defs.metadata import days_metadata, table_metadata
from nelo_assets.defs.partitions import attribution_lookback, session_lookback
from nelo_assets.defs.resources import LakeResource
from nelo_assets.transform.dims import build_dim_items, build_dim_users
from nelo_assets.transform.facts import build_fact_event_items, build_fact_events


@asset(
    deps=[AssetDep("silver_events", partition_mapping=session_lookback)],
    **asset_kwargs("gold", "fact_events"),
)
def fact_events(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """What each user did, in which session: one row per event (sessions look back one day)."""
    rows = {
        day: build_fact_events(lake.lake, lake.settings, day) for day in partition_dates(context)
    }
    return MaterializeResult(metadata=days_metadata("fact_events", rows))


@asset(
    deps=[
        AssetDep("silver_items", partition_mapping=attribution_lookback),
        AssetDep("silver_events", partition_mapping=attribution_lookback),
        "fact_events",
    ],
    **asset_kwargs("gold", "fact_event_items"),
)
def fact_event_items(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Which list earned each product interaction: item rows with last-click attribution (7 days)."""
    rows = {
        day: build_fact_event_items(lake.lake, lake.settings, day)
        for day in partition_dates(context)
    }
    return MaterializeResult(metadata=days_metadata("fact_event_items", rows))


@asset(deps=["fact_event_items"], **asset_kwargs("gold", "dim_items"))
def dim_items(lake: LakeResource) -> MaterializeResult:
    """What each product was called, and when: SCD type 2 over name, brand and category."""
    rows = build_dim_items(lake.lake, lake.settings)
    return MaterializeResult(metadata=table_metadata("dim_items", rows))


@asset(deps=["fact_events", "fact_event_items"], **asset_kwargs("gold", "dim_users"))
def dim_users(lake: LakeResource) -> MaterializeResult:
    """Who our users are: first and last seen, platforms, sessions, purchases and revenue."""
    rows = build_dim_users(lake.lake, lake.settings)
    return MaterializeResult(metadata=table_metadata("dim_users", rows))
