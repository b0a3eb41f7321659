"""Checks on the gold tables: the facts (keys, schema, reconciliation with silver, sessions,
money), the dimensions (keys, SCD2, coverage of the facts) and the published engagement view."""

from collections.abc import Iterator
from datetime import date
from functools import partial

from dagster import AssetCheckExecutionContext, AssetCheckResult, multi_asset_check

from nelo_assets.defs.checking import ERROR, PLATFORMS, Check, evaluate_days, specs, views
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource
from nelo_assets.quality import rules
from nelo_assets.storage.sql_models import load_sql
from nelo_assets.transform.business_rules import SESSION_LOOKBACK_DAYS
from nelo_assets.transform.facts import lookback_files

ATTRIBUTION_SOURCES = ("explicit", "last_click", "none")

EVENTS_KEY = Check(
    name="fact_events_key",
    asset="fact_events",
    severity=ERROR,
    protects="duplicate or missing event_id",
)
EVENTS_SCHEMA = Check(
    name="fact_events_schema",
    asset="fact_events",
    severity=ERROR,
    protects="missing user or session, bad platform, wrong partition",
)
EVENTS_RECONCILIATION = Check(
    name="fact_events_reconciliation",
    asset="fact_events",
    severity=ERROR,
    protects="fact rows that differ from silver rows",
)
# A session violation is a code defect that a re-run cannot fix; stopping the marts would hide
# the day without repairing it, so this gate alerts instead of blocking.
SESSIONS = Check(
    name="fact_events_sessions",
    asset="fact_events",
    severity=ERROR,
    protects="sessions that hide a gap or split a visit",
    blocks=False,
)
ITEMS_KEY = Check(
    name="fact_event_items_key",
    asset="fact_event_items",
    severity=ERROR,
    protects="duplicate or missing event_item_id",
)
ITEMS_SCHEMA = Check(
    name="fact_event_items_schema",
    asset="fact_event_items",
    severity=ERROR,
    protects="missing keys, bad attribution_source, wrong partition",
)
ITEMS_RECONCILIATION = Check(
    name="fact_event_items_reconciliation",
    asset="fact_event_items",
    severity=ERROR,
    protects="item rows that differ from silver_items",
)
ITEMS_HAVE_EVENTS = Check(
    name="fact_event_items_have_events",
    asset="fact_event_items",
    severity=ERROR,
    protects="item rows whose event is not in fact_events",
)
ITEMS_MONEY = Check(
    name="fact_event_items_money",
    asset="fact_event_items",
    severity=ERROR,
    protects="negative price, total_price or discount_amount",
)
DIM_ITEMS_KEY = Check(
    name="dim_items_key",
    asset="dim_items",
    severity=ERROR,
    protects="duplicate or missing item_sk",
)
DIM_ITEMS_SCD2 = Check(
    name="dim_items_scd2",
    asset="dim_items",
    severity=ERROR,
    protects="two current versions, overlapping or gapped validity",
)
DIM_ITEMS_COVERAGE = Check(
    name="dim_items_cover_facts",
    asset="dim_items",
    severity=ERROR,
    protects="fact items with no dimension row",
)
DIM_ITEMS_MONEY = Check(
    name="dim_items_money",
    asset="dim_items",
    severity=ERROR,
    protects="negative last_price",
)
DIM_USERS_KEY = Check(
    name="dim_users_key",
    asset="dim_users",
    severity=ERROR,
    protects="duplicate or missing user_sk or user_id",
)
DIM_USERS_COVERAGE = Check(
    name="dim_users_cover_facts",
    asset="dim_users",
    severity=ERROR,
    protects="fact users with no dimension row",
)
DIM_USERS_MONEY = Check(
    name="dim_users_money",
    asset="dim_users",
    severity=ERROR,
    protects="negative total_revenue",
)
ENGAGEMENT_RECONCILIATION = Check(
    name="master_list_items_engagement_reconciliation",
    asset="master_list_items_engagement",
    severity=ERROR,
    protects="listed item rows lost in the view's join",
)


@multi_asset_check(
    specs=specs(
        EVENTS_KEY,
        EVENTS_SCHEMA,
        EVENTS_RECONCILIATION,
        SESSIONS,
        partitions_def=daily_partitions,
    ),
    name="fact_events_checks",
)
def fact_events_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    yield from evaluate_days(context, partial(fact_events_day_results, lake))


def fact_events_day_results(lake: LakeResource, day: date) -> Iterator[AssetCheckResult]:
    store = lake.lake
    with views(
        fact_events=("fact_events", [store.partition_file("fact_events", day)]),
        silver_events=("silver_events", [store.partition_file("silver_events", day)]),
        # the same lookback the build reads, so the check sees the sessions it could see
        sessions_window=(
            "fact_events",
            lookback_files(store, "fact_events", day, SESSION_LOOKBACK_DAYS),
        ),
    ) as con:
        yield EVENTS_KEY.result(rules.unique_key(con, "fact_events", ["event_id"]))
        yield EVENTS_SCHEMA.result(
            rules.not_null(
                con, "fact_events", ["user_id", "session_id", "event_timestamp"], "event_id"
            ),
            rules.in_partition(con, "fact_events", day, "event_id", lake.timezone),
            rules.accepted_values(con, "fact_events", "platform", PLATFORMS),
        )
        yield EVENTS_RECONCILIATION.result(
            rules.same_keys(con, "silver_events", "event_id", "fact_events", "event_id")
        )
        yield SESSIONS.result(rules.session_violations(con, day))


@multi_asset_check(
    specs=specs(
        ITEMS_KEY,
        ITEMS_SCHEMA,
        ITEMS_RECONCILIATION,
        ITEMS_HAVE_EVENTS,
        ITEMS_MONEY,
        partitions_def=daily_partitions,
    ),
    name="fact_event_items_checks",
)
def fact_event_items_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    yield from evaluate_days(context, partial(fact_event_items_day_results, lake))


def fact_event_items_day_results(lake: LakeResource, day: date) -> Iterator[AssetCheckResult]:
    store = lake.lake
    with views(
        fact_event_items=("fact_event_items", [store.partition_file("fact_event_items", day)]),
        fact_events=("fact_events", [store.partition_file("fact_events", day)]),
        silver_items=("silver_items", [store.partition_file("silver_items", day)]),
    ) as con:
        yield ITEMS_KEY.result(rules.unique_key(con, "fact_event_items", ["event_item_id"]))
        yield ITEMS_SCHEMA.result(
            rules.not_null(
                con,
                "fact_event_items",
                ["event_id", "item_id", "user_id", "attributed_item_list_name"],
                "event_item_id",
            ),
            rules.in_partition(con, "fact_event_items", day, "event_item_id", lake.timezone),
            rules.accepted_values(
                con, "fact_event_items", "attribution_source", ATTRIBUTION_SOURCES
            ),
        )
        yield ITEMS_RECONCILIATION.result(
            rules.same_keys(
                con, "silver_items", "item_record_id", "fact_event_items", "event_item_id"
            )
        )
        yield ITEMS_HAVE_EVENTS.result(
            rules.orphans(con, "fact_event_items", "fact_events", "event_id", "event_item_id")
        )
        yield ITEMS_MONEY.result(
            rules.negative_money(
                con,
                "fact_event_items",
                ["price", "total_price", "discount_amount"],
                ["event_item_id"],
            )
        )


@multi_asset_check(
    specs=specs(DIM_ITEMS_KEY, DIM_ITEMS_SCD2, DIM_ITEMS_COVERAGE, DIM_ITEMS_MONEY),
    name="dim_items_checks",
)
def dim_items_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    store = lake.lake
    with views(
        dim_items=("dim_items", [store.table_file("dim_items")]),
        fact_event_items=("fact_event_items", store.all_partition_files("fact_event_items")),
    ) as con:
        yield DIM_ITEMS_KEY.result(
            rules.unique_key(con, "dim_items", ["item_sk"]),
            rules.not_null(con, "dim_items", ["item_id", "valid_from"], "item_sk"),
        )
        yield DIM_ITEMS_SCD2.result(rules.scd2_integrity(con))
        yield DIM_ITEMS_COVERAGE.result(
            rules.orphans(con, "fact_event_items", "dim_items", "item_id", "event_item_id")
        )
        yield DIM_ITEMS_MONEY.result(
            rules.negative_money(con, "dim_items", ["last_price"], ["item_sk"])
        )


@multi_asset_check(
    specs=specs(DIM_USERS_KEY, DIM_USERS_COVERAGE, DIM_USERS_MONEY), name="dim_users_checks"
)
def dim_users_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    store = lake.lake
    with views(
        dim_users=("dim_users", [store.table_file("dim_users")]),
        fact_events=("fact_events", store.all_partition_files("fact_events")),
    ) as con:
        yield DIM_USERS_KEY.result(
            rules.unique_key(con, "dim_users", ["user_sk"]),
            rules.unique_key(con, "dim_users", ["user_id"]),
        )
        yield DIM_USERS_COVERAGE.result(
            rules.orphans(con, "fact_events", "dim_users", "user_id", "event_id")
        )
        yield DIM_USERS_MONEY.result(
            rules.negative_money(con, "dim_users", ["total_revenue"], ["user_id"])
        )


@multi_asset_check(
    specs=specs(ENGAGEMENT_RECONCILIATION), name="master_list_items_engagement_checks"
)
def master_list_items_engagement_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    # The view's own SQL over the same Parquet files: analytics.duckdb is never opened here.
    store = lake.lake
    with views(
        fact_event_items=("fact_event_items", store.all_partition_files("fact_event_items")),
        fact_events=("fact_events", store.all_partition_files("fact_events")),
    ) as con:
        view_sql = load_sql("views", "master_list_items_engagement")
        con.execute(f"create temp view engagement as {view_sql}")
        con.execute(
            "create temp view listed_items as "
            "select * from fact_event_items where item_list_name is not null"
        )
        yield ENGAGEMENT_RECONCILIATION.result(
            rules.unique_key(con, "engagement", ["event_item_id"]),
            rules.same_keys(con, "listed_items", "event_item_id", "engagement", "event_item_id"),
        )
