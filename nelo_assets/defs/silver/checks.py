"""Checks on silver_events and silver_items: keys, schema, reconciliation with bronze, and the
soft signals (quarantine rate, unknown names and platforms, copies in two partitions)."""

from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial

from dagster import AssetCheckExecutionContext, AssetCheckResult, multi_asset_check

from nelo_assets.defs.checking import (
    ERROR,
    PLATFORMS,
    WARN,
    Check,
    bronze_read_model,
    evaluate_days,
    specs,
    views,
)
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import ChecksResource, LakeResource
from nelo_assets.quality import rules
from nelo_assets.transform.silver import bronze_files_read

EVENTS_KEY = Check(
    name="silver_events_key",
    asset="silver_events",
    severity=ERROR,
    protects="duplicate or missing event_id",
)
EVENTS_SCHEMA = Check(
    name="silver_events_schema",
    asset="silver_events",
    severity=ERROR,
    protects="missing required fields, bad platform, wrong partition",
)
RECONCILIATION = Check(
    name="silver_events_reconciliation",
    asset="silver_events",
    severity=ERROR,
    protects="events lost or invented between bronze and silver",
)
QUARANTINE_RATE = Check(
    name="silver_events_quarantine_rate",
    asset="silver_events",
    severity=WARN,
    protects="a flood of invalid events (app bug)",
)
UNKNOWN_EVENT_NAMES = Check(
    name="silver_events_unknown_event_names",
    asset="silver_events",
    severity=WARN,
    protects="misspelt or new event names",
)
UNKNOWN_PLATFORM = Check(
    name="silver_events_unknown_platform_share",
    asset="silver_events",
    severity=WARN,
    protects="app builds that stopped sending platform",
)
CROSS_PARTITION_DUPLICATES = Check(
    name="silver_events_cross_partition_duplicates",
    asset="silver_events",
    severity=WARN,
    protects="copies of one event that disagree on the time",
)
ITEMS_KEY = Check(
    name="silver_items_key",
    asset="silver_items",
    severity=ERROR,
    protects="duplicate or missing item_record_id",
)
ITEMS_HAVE_EVENTS = Check(
    name="silver_items_have_events",
    asset="silver_items",
    severity=ERROR,
    protects="items whose event is not in silver_events",
)
ITEMS_MONEY = Check(
    name="silver_items_money",
    asset="silver_items",
    severity=ERROR,
    protects="negative price, discount or discount_amount",
)


@multi_asset_check(
    specs=specs(
        EVENTS_KEY,
        EVENTS_SCHEMA,
        RECONCILIATION,
        QUARANTINE_RATE,
        UNKNOWN_EVENT_NAMES,
        UNKNOWN_PLATFORM,
        CROSS_PARTITION_DUPLICATES,
        ITEMS_KEY,
        ITEMS_HAVE_EVENTS,
        ITEMS_MONEY,
        partitions_def=daily_partitions,
    ),
    name="silver_checks",
)
def silver_checks(
    context: AssetCheckExecutionContext, lake: LakeResource, checks: ChecksResource
) -> Iterator[AssetCheckResult]:
    yield from evaluate_days(context, partial(silver_day_results, lake, checks))


def silver_day_results(
    lake: LakeResource, checks: ChecksResource, day: date
) -> Iterator[AssetCheckResult]:
    store, limits = lake.lake, checks.thresholds
    window = range(-limits.duplicate_window_days, limits.duplicate_window_days + 1)
    # The bronze the day's silver was built from: an ingest run may have added files since.
    bronze_files = bronze_files_read(store, day)
    if bronze_files is None:
        bronze_files = store.partition_files("bronze_events", day)
    with views(
        bronze_parts=("bronze_events", bronze_files),
        silver_events=("silver_events", [store.partition_file("silver_events", day)]),
        silver_items=("silver_items", [store.partition_file("silver_items", day)]),
        silver_quarantine=("quarantine", [store.silver_quarantine_file(day)]),
        silver_event_ids=(
            "silver_events",
            [store.partition_file("silver_events", day + timedelta(days=n)) for n in window],
        ),
    ) as con:
        bronze_read_model(con)
        required = ["message_id", "batch_index", "received_at", "event_timestamp", "user_id"]
        yield EVENTS_KEY.result(rules.unique_key(con, "silver_events", ["event_id"]))
        yield EVENTS_SCHEMA.result(
            rules.not_null(con, "silver_events", [*required, "event_name"], "event_id"),
            rules.in_partition(con, "silver_events", day, "event_id", lake.timezone),
            rules.accepted_values(con, "silver_events", "platform", PLATFORMS),
        )
        yield RECONCILIATION.result(rules.silver_reconciliation(con))
        yield QUARANTINE_RATE.result(rules.quarantine_rate(con, limits.max_quarantine_rate))
        yield UNKNOWN_EVENT_NAMES.result(
            rules.unknown_event_names(con, sorted(limits.known_event_names))
        )
        yield UNKNOWN_PLATFORM.result(
            rules.unknown_platform_share(con, limits.max_unknown_platform_share)
        )
        yield CROSS_PARTITION_DUPLICATES.result(rules.cross_partition_duplicates(con, day))
        yield ITEMS_KEY.result(
            rules.unique_key(con, "silver_items", ["item_record_id"]),
            rules.in_partition(con, "silver_items", day, "item_record_id"),
        )
        yield ITEMS_HAVE_EVENTS.result(
            rules.orphans(con, "silver_items", "silver_events", "event_id", "item_record_id")
        )
        yield ITEMS_MONEY.result(
            rules.negative_money(
                con,
                "silver_items",
                ["price", "discount", "discount_amount"],
                ["item_record_id"],
            )
        )
