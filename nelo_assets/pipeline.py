"""The whole pipeline as plain function calls, landing archive to marts, in dependency order.

The assets call the same functions one partition at a time; this runs them for a date range in
one process, for tests, benchmarks and the notebook, with no Dagster in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from nelo_assets.analytics import publish_views
from nelo_assets.bronze import rebuild_bronze_partition
from nelo_assets.dims import build_dim_items, build_dim_users
from nelo_assets.facts import build_fact_event_items, build_fact_events
from nelo_assets.lake import Lake
from nelo_assets.marts import build_mart_item_list_daily, build_mart_product_daily_metrics
from nelo_assets.settings import Settings
from nelo_assets.silver import build_silver_partition


def build_partitions(lake: Lake, settings: Settings, dates: Iterable[date]) -> None:
    """Silver, facts and marts for `dates` (bronze must be there), oldest first per layer."""
    ordered = sorted(set(dates))
    for event_date in ordered:
        build_silver_partition(lake, settings, event_date)
    for event_date in ordered:
        build_fact_events(lake, settings, event_date)
    for event_date in ordered:
        build_fact_event_items(lake, settings, event_date)
        build_mart_item_list_daily(lake, settings, event_date)
        build_mart_product_daily_metrics(lake, settings, event_date)


def build_everything(lake: Lake, settings: Settings, dates: Iterable[date]) -> None:
    """Bronze from the landing archive, then every table and the analytics.duckdb views."""
    ordered = sorted(set(dates))
    for event_date in ordered:
        rebuild_bronze_partition(lake, settings, event_date)
    build_partitions(lake, settings, ordered)
    build_dim_items(lake, settings)
    build_dim_users(lake, settings)
    publish_views(lake)
