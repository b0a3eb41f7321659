"""Checks on bronze_events (schema) and on the quarantine table. Whether bronze is still
updated at all is its freshness policy's job (assets.py), not a check's."""

from collections.abc import Iterator
from datetime import date
from functools import partial

from dagster import AssetCheckExecutionContext, AssetCheckResult, multi_asset_check

from nelo_assets.contract import REASON_CODES
from nelo_assets.defs.automation import DayBeingBuilt, follow_upstream
from nelo_assets.defs.checking import ERROR, Check, bronze_read_model, evaluate_days, views
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource
from nelo_assets.quality import rules
from nelo_assets.storage.sql_models import load_sql

SCHEMA = Check(
    name="bronze_events_schema",
    asset="bronze_events",
    severity=ERROR,
    protects="rows without a key or in the wrong partition",
)
REASON_CODES_KNOWN = Check(
    name="quarantine_reason_codes",
    asset="quarantine",
    severity=ERROR,
    protects="quarantine rows without a known reason",
)

QUARANTINE_STAGES = ("ingest", "silver")


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


@multi_asset_check(specs=[REASON_CODES_KNOWN.spec()], name="quarantine_checks")
def quarantine_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    with views(quarantine_parts=("quarantine", lake.lake.quarantine_files())) as con:
        con.execute(f"create temp view quarantine as {load_sql('bronze', 'quarantine')}")
        yield REASON_CODES_KNOWN.result(
            # the contract is the one list of reason codes
            rules.accepted_values(con, "quarantine", "reason", REASON_CODES),
            rules.accepted_values(con, "quarantine", "stage", QUARANTINE_STAGES),
        )
