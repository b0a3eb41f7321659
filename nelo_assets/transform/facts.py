"""Gold facts, one partition a call: sessions (fact_events) and list attribution (fact_event_items).

Each build reads only its partition and its declared lookback (R9) and is a pure function of
those files, so a re-run rewrites the same bytes (R3) and rebuilding a changed partition and its
dependents gives what a full build gives (R4).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import bind_parquet, connect, load_sql, write_parquet
from nelo_assets.transform.business_rules import (
    ATTRIBUTION_LOOKBACK_DAYS,
    ATTRIBUTION_WINDOW_HOURS,
    SESSION_GAP_SECONDS,
    SESSION_LOOKBACK_DAYS,
)


def lookback_files(lake: Lake, table: str, event_date: date, lookback_days: int) -> list[Path]:
    """The partition files of `table` for event_date - lookback_days .. event_date."""
    return [
        lake.partition_file(table, event_date - timedelta(days=offset))
        for offset in range(lookback_days, -1, -1)
    ]


def build_fact_events(lake: Lake, settings: Settings, event_date: date) -> int:
    """Write fact_events[event_date] from silver_events of that day and the day before."""
    con = connect()
    try:
        bind_parquet(
            con,
            "events_window",
            "silver_events",
            lookback_files(lake, "silver_events", event_date, SESSION_LOOKBACK_DAYS),
        )
        return write_parquet(
            con,
            "fact_events",
            load_sql("gold", "fact_events"),
            lake.partition_file("fact_events", event_date),
            [event_date, settings.timezone, SESSION_GAP_SECONDS],
        )
    finally:
        con.close()


def build_fact_event_items(lake: Lake, settings: Settings, event_date: date) -> int:
    """Write fact_event_items[event_date] from a week of silver and fact_events of that day.

    `settings` is unused (item rows need no time zone); it keeps both builds' signatures alike.
    """
    con = connect()
    try:
        for view_name, table in (
            ("items_window", "silver_items"),
            ("events_window", "silver_events"),
        ):
            bind_parquet(
                con,
                view_name,
                table,
                lookback_files(lake, table, event_date, ATTRIBUTION_LOOKBACK_DAYS),
            )
        bind_parquet(
            con, "sessions", "fact_events", [lake.partition_file("fact_events", event_date)]
        )
        return write_parquet(
            con,
            "fact_event_items",
            load_sql("gold", "fact_event_items"),
            lake.partition_file("fact_event_items", event_date),
            [event_date, ATTRIBUTION_WINDOW_HOURS],
        )
    finally:
        con.close()
