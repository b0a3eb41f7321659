"""Checks on bronze_events (schema, freshness) and on the quarantine table."""

from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import partial

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AutomationCondition,
    asset_check,
    multi_asset_check,
)

from nelo_assets.contract import REASON_CODES
from nelo_assets.defs.automation import DayBeingBuilt, follow_upstream
from nelo_assets.defs.checking import ERROR, WARN, Check, bronze_read_model, evaluate_days, views
from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import ChecksResource, LakeResource
from nelo_assets.quality import rules
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import load_sql

SCHEMA = Check("bronze_events_schema", "bronze_events", ERROR, "rows without a key or in the wrong partition")  # fmt: skip
FRESHNESS = Check("bronze_events_freshness", "bronze_events", WARN, "ingestion silently stopped. Runs hourly; the UI says Not evaluated once bronze has been updated since the last run, which means ingestion is running")  # fmt: skip
REASON_CODES_KNOWN = Check("quarantine_reason_codes", "quarantine", ERROR, "quarantine rows without a known reason")  # fmt: skip

QUARANTINE_STAGES = ("ingest", "silver")
# Freshness is about time passing, not about a materialization, so it runs on the clock.
FRESHNESS_CRON = "0 * * * *"


# The ingest job reports bronze partitions without executing the asset, so this check follows
# those reports itself, requested by the automation sensor alongside silver for the same date.
@multi_asset_check(
    specs=[
        SCHEMA.spec(
            daily_partitions,
            automation_condition=(follow_upstream() & ~DayBeingBuilt("silver_events")).with_label(
                "follow_upstream, beside silver"
            ),
        )
    ],
    name="bronze_events_checks",
)
def bronze_events_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    yield from evaluate_days(context, partial(bronze_day_results, lake))


def bronze_day_results(lake: LakeResource, day: date) -> Iterator[AssetCheckResult]:
    with views(
        bronze_parts=("bronze_events", lake.lake.partition_files("bronze_events", day))
    ) as con:
        bronze_read_model(con)
        required = ["message_id", "batch_index", "received_at", "raw", "event_timestamp"]
        yield SCHEMA.result(
            rules.not_null(con, "bronze_events", required, "message_id"),
            rules.in_partition(con, "bronze_events", day, "message_id", lake.timezone),
        )


def newest_bronze_receipt(lake: Lake) -> tuple[str | None, datetime | None]:
    """The newest bronze partition holding data, and the latest receipt in it (reads one day)."""
    for directory in sorted(lake.table_dir("bronze_events").glob("event_date=*"), reverse=True):
        files = sorted(directory.glob("*.parquet"))
        if not files:
            continue
        with views(bronze_parts=("bronze_events", files)) as con:
            latest = con.execute("select max(received_at) from bronze_parts").fetchone()[0]
        return directory.name.removeprefix("event_date="), latest
    return None, None


@asset_check(
    asset=FRESHNESS.asset,
    name=FRESHNESS.name,
    description=FRESHNESS.protects,
    blocking=FRESHNESS.blocking,
    metadata=FRESHNESS.metadata,
    automation_condition=AutomationCondition.cron_tick_passed(
        FRESHNESS_CRON, cron_timezone=SETTINGS.timezone
    ),
)
def bronze_events_freshness(lake: LakeResource, checks: ChecksResource) -> AssetCheckResult:
    partition, latest = newest_bronze_receipt(lake.lake)
    hours = checks.thresholds.freshness_hours
    return FRESHNESS.result(rules.freshness(partition, latest, datetime.now(UTC), hours))


@multi_asset_check(specs=[REASON_CODES_KNOWN.spec()], name="quarantine_checks")
def quarantine_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    with views(quarantine_parts=("quarantine", lake.lake.quarantine_files())) as con:
        con.execute(f"create temp view quarantine as {load_sql('bronze', 'quarantine')}")
        yield REASON_CODES_KNOWN.result(
            # the contract is the one list of reason codes
            rules.accepted_values(con, "quarantine", "reason", REASON_CODES),
            rules.accepted_values(con, "quarantine", "stage", QUARANTINE_STAGES),
        )
