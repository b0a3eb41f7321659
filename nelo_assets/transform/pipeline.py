"""The whole pipeline as plain function calls, landing archive to marts, in dependency order.

The assets call the same functions one partition at a time; this runs them for a date range in
one process, for tests, benchmarks and the notebook, with no Dagster in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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

# Each partitioned table's build, in dependency order: a step reads only the tables before it.
PARTITION_BUILDS: tuple[tuple[str, Callable[[Lake, Settings, date], object]], ...] = (
    ("silver", build_silver_partition),
    ("fact_events", build_fact_events),
    ("fact_event_items", build_fact_event_items),
    ("mart_item_list_daily", build_mart_item_list_daily),
    ("mart_product_daily_metrics", build_mart_product_daily_metrics),
    ("mart_list_position_daily", build_mart_list_position_daily),
)
# The dimensions, rebuilt whole from every partition of the facts.
DIMENSION_BUILDS: tuple[tuple[str, Callable[[Lake, Settings], object]], ...] = (
    ("dim_items", build_dim_items),
    ("dim_users", build_dim_users),
)


def build_partitions(lake: Lake, settings: Settings, dates: Iterable[date]) -> None:
    """Silver, facts and marts for `dates` (bronze must be there), oldest first per layer."""
    ordered = sorted(set(dates))
    for _table, build in PARTITION_BUILDS:
        for event_date in ordered:
            build(lake, settings, event_date)


def build_everything(lake: Lake, settings: Settings, dates: Iterable[date]) -> None:
    """Bronze from the landing archive, then every table (readers publish their own views)."""
    ordered = sorted(set(dates))
    rebuild_bronze_partitions(lake, settings, ordered)
    build_partitions(lake, settings, ordered)
    for _table, build_dimension in DIMENSION_BUILDS:
        build_dimension(lake, settings)
