"""The bronze_events asset: bronze rebuilt from the landing archive (the ingest job in jobs.py
writes it live and reports its partitions)."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from nelo_assets.defs.common import asset_kwargs, partition_dates
from nelo_assets.defs.metadata import days_metadata
from nelo_assets.defs.resources import LakeResource
from nelo_assets.ingestion.bronze import rebuild_bronze_partitions


# Not automated: the ingest job writes bronze as messages arrive; this only replays the archive.
@asset(**asset_kwargs("bronze", "bronze_events", automated=False))
def bronze_events(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """What the app sent for each day, event by event, exactly once: the replayable raw record."""
    # A backfill chunk's days in one pass over the landing archive.
    rows = rebuild_bronze_partitions(lake.lake, lake.settings, partition_dates(context))
    return MaterializeResult(metadata=days_metadata("bronze_events", rows))
