"""Marts: the daily GA4 metrics per item list, per product and per list position that the Growth
dashboard reads."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from nelo_assets.defs.common import asset_kwargs, partition_date
from nelo_assets.defs.metadata import markdown_preview, table_metadata
from nelo_assets.defs.resources import LakeResource
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect
from nelo_assets.transform.marts import (
    build_mart_item_list_daily,
    build_mart_list_position_daily,
    build_mart_product_daily_metrics,
)


def _preview(lake: Lake, table: str, event_date: object, order_by: str) -> object:
    path = str(lake.partition_file(table, event_date))
    with connect(reads=lake.root) as con:
        return markdown_preview(con, f"select * from read_parquet(?) order by {order_by}", [path])


@asset(deps=["fact_events", "fact_event_items"], **asset_kwargs("marts", "mart_item_list_daily"))
def mart_item_list_daily(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Which item lists drive the most engagement: views, clicks and attributed conversions."""
    event_date = partition_date(context)
    rows = build_mart_item_list_daily(lake.lake, lake.settings, event_date)
    preview = _preview(lake.lake, "mart_item_list_daily", event_date, "list_view_events desc")
    return MaterializeResult(metadata=table_metadata("mart_item_list_daily", rows, preview=preview))


@asset(
    deps=["fact_event_items"],
    **asset_kwargs("marts", "mart_product_daily_metrics", "mart_product_daily"),
)
def mart_product_daily(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Which products perform best: funnel counts, rates and revenue per product and day.

    Stored without names; the published view adds the current name, brand and category from
    dim_items, so a rename shows on every date.
    """
    event_date = partition_date(context)
    rows = build_mart_product_daily_metrics(lake.lake, lake.settings, event_date)
    preview = _preview(lake.lake, "mart_product_daily_metrics", event_date, "item_revenue desc")
    return MaterializeResult(
        metadata=table_metadata("mart_product_daily_metrics", rows, preview=preview)
    )


@asset(deps=["fact_event_items"], **asset_kwargs("marts", "mart_list_position_daily"))
def mart_list_position_daily(
    context: AssetExecutionContext, lake: LakeResource
) -> MaterializeResult:
    """How much of a list's clicks its item positions explain: impressions and clicks per
    list and position, so lists are compared position for position."""
    event_date = partition_date(context)
    rows = build_mart_list_position_daily(lake.lake, lake.settings, event_date)
    preview = _preview(
        lake.lake, "mart_list_position_daily", event_date, "item_list_name, position_in_list"
    )
    return MaterializeResult(
        metadata=table_metadata("mart_list_position_daily", rows, preview=preview)
    )
