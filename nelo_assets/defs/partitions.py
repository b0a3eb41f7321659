"""The one daily partitioning of bronze, silver, gold and marts, and the lookbacks between them."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition, TimeWindowPartitionMapping

from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.transform.business_rules import ATTRIBUTION_LOOKBACK_DAYS, SESSION_LOOKBACK_DAYS

daily_partitions = DailyPartitionsDefinition(
    start_date=SETTINGS.start_date.isoformat(),
    timezone=SETTINGS.timezone,
    # Today's partition and tomorrow's: docs/events.md accepts device clocks up to 24 h ahead.
    end_offset=2,
)

session_lookback = TimeWindowPartitionMapping(start_offset=-SESSION_LOOKBACK_DAYS, end_offset=0)
attribution_lookback = TimeWindowPartitionMapping(
    start_offset=-ATTRIBUTION_LOOKBACK_DAYS, end_offset=0
)
