"""The whole pipeline as plain function calls, landing archive to marts, in dependency order.

The assets call the same functions one partition at a time; this runs them for a date range in
one process, for tests, benchmarks and the notebook, with no Dagster in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from nelo_assets.ingestion.bronze import rebuild_bronze_partitions
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.dims import build_dim_items, build_dim_users
from nelo_assets.transform.facts import build_fact_event_items, build_fact_events
from nelo_assets.transform.marts import (
    build_mart_item_list_daily,
    build_mart_list_position_daily,
    build_mart_product_daily_metrics,
)
from nelo_assets.transform.silver import build_silver_partition


@dataclass(frozen=True)
class PartitionBuild:
    """One step of a day's build: its name in timings, the assets it publishes (as the Dagster
    graph names them) and the function that writes one day of them."""

    name: str
    assets: tuple[str, ...]
    build: Callable[[Lake, Settings, date], object]


# The graph order, written once: each step reads only bronze and the steps before it. The daily
# pipeline job selects bronze and these assets (defs/jobs.py); a test holds them to the deps.
PARTITION_BUILDS: tuple[PartitionBuild, ...] = (
    PartitionBuild("silver", ("silver_events", "silver_items"), build_silver_partition),
    PartitionBuild("fact_events", ("fact_events",), build_fact_events),
    PartitionBuild("fact_event_items", ("fact_event_items",), build_fact_event_items),
    PartitionBuild("mart_item_list_daily", ("mart_item_list_daily",), build_mart_item_list_daily),
    PartitionBuild(
        "mart_product_daily_metrics", ("mart_product_daily",), build_mart_product_daily_metrics
    ),
    PartitionBuild(
        "mart_list_position_daily", ("mart_list_position_daily",), build_mart_list_position_daily
    ),
)
# The dimensions, rebuilt whole from every partition of the facts.
DIMENSION_BUILDS: tuple[tuple[str, Callable[[Lake, Settings], object]], ...] = (
    ("dim_items", build_dim_items),
    ("dim_users", build_dim_users),
)


def build_partitions(lake: Lake, settings: Settings, dates: Iterable[date]) -> None:
    """Silver, facts and marts for `dates` (bronze must be there), oldest first per layer."""
    ordered = sorted(set(dates))
    for step in PARTITION_BUILDS:
        for event_date in ordered:
            step.build(lake, settings, event_date)


def build_everything(lake: Lake, settings: Settings, dates: Iterable[date]) -> None:
    """Bronze from the landing archive, then every table (readers publish their own views)."""
    ordered = sorted(set(dates))
    rebuild_bronze_partitions(lake, settings, ordered)
    build_partitions(lake, settings, ordered)
    for _table, build_dimension in DIMENSION_BUILDS:
        build_dimension(lake, settings)
