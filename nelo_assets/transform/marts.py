"""Daily marts: mart_item_list_daily, mart_product_daily_metrics and mart_list_position_daily,
each from its own partition."""

from __future__ import annotations

from datetime import date

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import bind_parquet, connect, model_sql, write_parquet


def _build_mart(lake: Lake, table: str, event_date: date, inputs: tuple[str, ...]) -> int:
    # Only partition D is read, so a day costs the same on day 1 and day 365 (R9).
    with connect() as con:
        for fact in inputs:
            bind_parquet(con, fact, fact, [lake.partition_file(fact, event_date)])
        return write_parquet(con, table, model_sql(table), lake.partition_file(table, event_date))


def build_mart_item_list_daily(lake: Lake, settings: Settings, event_date: date) -> int:
    """Rewrite mart_item_list_daily[event_date]; return its row count."""
    return _build_mart(
        lake, "mart_item_list_daily", event_date, ("fact_events", "fact_event_items")
    )


def build_mart_product_daily_metrics(lake: Lake, settings: Settings, event_date: date) -> int:
    """Rewrite mart_product_daily_metrics[event_date]; return its row count."""
    return _build_mart(lake, "mart_product_daily_metrics", event_date, ("fact_event_items",))


def build_mart_list_position_daily(lake: Lake, settings: Settings, event_date: date) -> int:
    """Rewrite mart_list_position_daily[event_date]; return its row count."""
    return _build_mart(lake, "mart_list_position_daily", event_date, ("fact_event_items",))
