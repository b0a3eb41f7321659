"""The one daily partitioning of bronze, silver, gold and marts, and the lookbacks between them."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition, TimeWindowPartitionMapping

from nelo_assets.settings import Settings

# Sessions look back one day for a session's start; attribution looks back seven days for a click.
SESSION_LOOKBACK_DAYS = 1
ATTRIBUTION_LOOKBACK_DAYS = 7

_settings = Settings.from_env()

daily_partitions = DailyPartitionsDefinition(
    start_date=_settings.start_date.isoformat(),
    timezone=_settings.timezone,
    # Today's partition and tomorrow's: EVENTS.md accepts device clocks up to 24 h ahead.
    end_offset=2,
)

session_lookback = TimeWindowPartitionMapping(start_offset=-SESSION_LOOKBACK_DAYS, end_offset=0)
attribution_lookback = TimeWindowPartitionMapping(
    start_offset=-ATTRIBUTION_LOOKBACK_DAYS, end_offset=0
)
