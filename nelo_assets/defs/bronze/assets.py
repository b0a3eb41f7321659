"""The bronze_events asset: bronze rebuilt from the landing archive (the ingest job in jobs.py
writes it live and reports its partitions)."""

from datetime import timedelta

from dagster import AssetExecutionContext, FreshnessPolicy, MaterializeResult, asset

from nelo_assets.defs.common import asset_kwargs, partition_dates
from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.defs.metadata import days_metadata
from nelo_assets.defs.resources import LakeResource
from nelo_assets.ingestion.bronze import rebuild_bronze_partitions

# When no bronze partition was updated for this long, ingestion has silently stopped: Dagster's
# freshness daemon evaluates the policy and the pipeline health sensor alerts on a failure.
BRONZE_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=timedelta(hours=SETTINGS.freshness_hours)
)


# Not automated: the ingest job writes bronze as messages arrive; this only replays the archive.
@asset(
    **asset_kwargs("bronze", "bronze_events", automated=False),
    freshness_policy=BRONZE_FRESHNESS,
)
def bronze_events(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """What the app sent for each day, event by event, exactly once: the replayable raw record."""
    # A backfill chunk's days in one pass over the landing archive.
    rows = rebuild_bronze_partitions(lake.lake, lake.settings, partition_dates(context))
    return MaterializeResult(metadata=days_metadata("bronze_events", rows))
