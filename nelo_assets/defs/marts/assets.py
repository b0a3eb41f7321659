"""Marts: the daily GA4 metrics per item list, per product and per list position that the Growth
dashboard reads."""

from collections.abc import Callable
from datetime import date
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, asset

from nelo_assets.defs.common import asset_kwargs, partition_dates
from nelo_assets.defs.metadata import days_metadata, markdown_preview
from nelo_assets.defs.resources import LakeResource
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect
from nelo_assets.transform.marts import (
    build_mart_item_list_daily,
    build_mart_list_position_daily,
    build_mart_product_daily_metrics,
)


def _build_days(
    context: AssetExecutionContext,
    lake: LakeResource,
    table: str,
    build: Callable[[Lake, Settings, date], int],
    order_by: str,
) -> MaterializeResult:
    """Build `table` for every day of the run, with a preview of the newest day."""
    days = partition_dates(context)
    rows = {day: build(lake.lake, lake.settings, day) for day in days}
    path = str(lake.lake.partition_file(table, days[-1]))
    with connect(reads=lake.lake.root) as con:
        preview: Any = markdown_preview(
            con, f"select * from read_parquet(?) order by {order_by}", [path]
        )
    # The columns of the table published under the asset's name, as its definition shows them:
    # for mart_product_daily, the view with the product names over the stored metrics.
    published = context.asset_key.to_user_string()
    return MaterializeResult(metadata=days_metadata(published, rows, preview=preview))


@asset(deps=["fact_events", "fact_event_items"], **asset_kwargs("marts", "mart_item_list_daily"))
def mart_item_list_daily(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Which item lists drive the most engagement: views, clicks and attributed conversions."""
    return _build_days(
        context, lake, "mart_item_list_daily", build_mart_item_list_daily, "list_view_events desc"
    )


@asset(
    deps=["fact_event_items"],
    **asset_kwargs("marts", "mart_product_daily_metrics", "mart_product_daily"),
)
def mart_product_daily(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Which products perform best: funnel counts, rates and revenue per product and day.

    Stored without names; the published view adds the current name, brand and category from
    dim_items, so a rename shows on every date.
    """
    return _build_days(
        context,
        lake,
        "mart_product_daily_metrics",
        build_mart_product_daily_metrics,
        "item_revenue desc",
    )


@asset(deps=["fact_event_items"], **asset_kwargs("marts", "mart_list_position_daily"))
def mart_list_position_daily(
    context: AssetExecutionContext, lake: LakeResource
) -> MaterializeResult:
    """How much of a list's clicks its item positions explain: impressions and clicks per
    list and position, so lists are compared position for position."""
    return _build_days(
        context,
        lake,
        "mart_list_position_daily",
        build_mart_list_position_daily,
        "item_list_name, position_in_list",
    )
