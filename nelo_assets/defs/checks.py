"""Asset checks on every Nelo asset: thin Dagster wrappers around the rules in check_rules.

Daily checks are partitioned like their asset and evaluate the partition being materialized
(Dagster 1.13 hands `context.partition_key` to a check whose spec has the asset's
partitions_def). One multi-asset check per asset keeps a partition run to one extra step per
asset. ERROR checks are blocking: a failure stops the downstream steps of the same run, so bad
rows never reach gold or the marts. WARN checks only report.
"""

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AutomationCondition,
    PreviewWarning,
    asset_check,
    multi_asset_check,
)

from nelo_assets.contract import REASON_CODES
from nelo_assets.defs.automation import follow_upstream
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource
from nelo_assets.defs.settings import SETTINGS
from nelo_assets.quality import rules
from nelo_assets.quality.rules import Outcome
from nelo_assets.quality.thresholds import Thresholds
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import bind_parquet, connect, load_sql
from nelo_assets.transform.business_rules import SESSION_LOOKBACK_DAYS

ERROR = AssetCheckSeverity.ERROR
WARN = AssetCheckSeverity.WARN

PLATFORMS = ("IOS", "ANDROID", "WEB", "UNKNOWN")
ATTRIBUTION_SOURCES = ("explicit", "last_click", "none")
QUARANTINE_REASONS = REASON_CODES  # the contract is the one list of reason codes
QUARANTINE_STAGES = ("ingest", "silver")
# Freshness is about time passing, not about a materialization, so it runs on the clock.
FRESHNESS_CRON = "0 * * * *"

# Check names, one per rule and asset.
BRONZE_SCHEMA = "bronze_events_schema"
BRONZE_FRESHNESS = "bronze_events_freshness"
QUARANTINE_CODES = "quarantine_reason_codes"
SILVER_EVENTS_KEY = "silver_events_key"
SILVER_EVENTS_SCHEMA = "silver_events_schema"
SILVER_RECONCILIATION = "silver_events_reconciliation"
SILVER_QUARANTINE_RATE = "silver_events_quarantine_rate"
SILVER_UNKNOWN_EVENT_NAMES = "silver_events_unknown_event_names"
SILVER_UNKNOWN_PLATFORM = "silver_events_unknown_platform_share"
SILVER_CROSS_PARTITION_DUPLICATES = "silver_events_cross_partition_duplicates"
SILVER_ITEMS_KEY = "silver_items_key"
SILVER_ITEMS_ORPHANS = "silver_items_have_events"
SILVER_ITEMS_MONEY = "silver_items_money"
FACT_EVENTS_KEY = "fact_events_key"
FACT_EVENTS_SCHEMA = "fact_events_schema"
FACT_EVENTS_RECONCILIATION = "fact_events_reconciliation"
FACT_EVENTS_SESSIONS = "fact_events_sessions"
FACT_ITEMS_KEY = "fact_event_items_key"
FACT_ITEMS_SCHEMA = "fact_event_items_schema"
FACT_ITEMS_RECONCILIATION = "fact_event_items_reconciliation"
FACT_ITEMS_ORPHANS = "fact_event_items_have_events"
FACT_ITEMS_MONEY = "fact_event_items_money"
DIM_ITEMS_KEY = "dim_items_key"
DIM_ITEMS_SCD2 = "dim_items_scd2"
DIM_ITEMS_COVERAGE = "dim_items_cover_facts"
DIM_ITEMS_MONEY = "dim_items_money"
DIM_USERS_KEY = "dim_users_key"
DIM_USERS_COVERAGE = "dim_users_cover_facts"
DIM_USERS_MONEY = "dim_users_money"
MART_LIST_GRAIN = "mart_item_list_daily_grain"
MART_LIST_RATES = "mart_item_list_daily_rates"
MART_LIST_MONEY = "mart_item_list_daily_money"
MART_PRODUCT_GRAIN = "mart_product_daily_grain"
MART_PRODUCT_RATES = "mart_product_daily_rates"
MART_PRODUCT_MONEY = "mart_product_daily_money"
ENGAGEMENT_RECONCILIATION = "master_list_items_engagement_reconciliation"


@dataclass(frozen=True)
class CheckInfo:
    """One row of the check catalogue (docs/checks.md mirrors it)."""

    name: str
    asset: str
    severity: AssetCheckSeverity
    protects: str

    @property
    def blocking(self) -> bool:
        # Every ERROR gate blocks except the session rule: its failure is a code defect that a
        # re-run cannot fix, and stopping the marts would hide the day without repairing it.
        return self.severity == ERROR and self.name != FACT_EVENTS_SESSIONS

    def spec(
        self, partitioned: bool, automation_condition: AutomationCondition | None = None
    ) -> AssetCheckSpec:
        with warnings.catch_warnings():
            # Partitioned check specs are a preview API; verified on Dagster 1.13.27.
            warnings.simplefilter("ignore", PreviewWarning)
            return AssetCheckSpec(
                self.name,
                asset=self.asset,
                description=self.protects,
                blocking=self.blocking,
                partitions_def=daily_partitions if partitioned else None,
                automation_condition=automation_condition,
                metadata={"severity": self.severity.value},
            )

    def result(self, outcome: Outcome) -> AssetCheckResult:
        return AssetCheckResult(
            asset_key=self.asset,
            check_name=self.name,
            passed=outcome.passed,
            severity=self.severity,
            description=outcome.message,
            metadata=outcome.metadata,
        )


CATALOG = {
    info.name: info
    for info in [
        CheckInfo(BRONZE_SCHEMA, "bronze_events", ERROR, "rows without a key or in the wrong partition"),
        CheckInfo(BRONZE_FRESHNESS, "bronze_events", WARN, "ingestion silently stopped"),
        CheckInfo(QUARANTINE_CODES, "quarantine", ERROR, "quarantine rows without a known reason"),
        CheckInfo(SILVER_EVENTS_KEY, "silver_events", ERROR, "duplicate or missing event_id"),
        CheckInfo(SILVER_EVENTS_SCHEMA, "silver_events", ERROR, "missing required fields, bad platform, wrong partition"),
        CheckInfo(SILVER_RECONCILIATION, "silver_events", ERROR, "events lost or invented between bronze and silver"),
        CheckInfo(SILVER_QUARANTINE_RATE, "silver_events", WARN, "a flood of invalid events (app bug)"),
        CheckInfo(SILVER_UNKNOWN_EVENT_NAMES, "silver_events", WARN, "misspelt or new event names"),
        CheckInfo(SILVER_UNKNOWN_PLATFORM, "silver_events", WARN, "app builds that stopped sending platform"),
        CheckInfo(SILVER_CROSS_PARTITION_DUPLICATES, "silver_events", WARN, "copies of one event that disagree on the time"),
        CheckInfo(SILVER_ITEMS_KEY, "silver_items", ERROR, "duplicate or missing item_record_id"),
        CheckInfo(SILVER_ITEMS_ORPHANS, "silver_items", ERROR, "items whose event is not in silver_events"),
        CheckInfo(SILVER_ITEMS_MONEY, "silver_items", ERROR, "negative price, discount or discount_amount"),
        CheckInfo(FACT_EVENTS_KEY, "fact_events", ERROR, "duplicate or missing event_id"),
        CheckInfo(FACT_EVENTS_SCHEMA, "fact_events", ERROR, "missing user or session, bad platform, wrong partition"),
        CheckInfo(FACT_EVENTS_RECONCILIATION, "fact_events", ERROR, "fact rows that differ from silver rows"),
        CheckInfo(FACT_EVENTS_SESSIONS, "fact_events", ERROR, "sessions that hide a gap or split a visit"),
        CheckInfo(FACT_ITEMS_KEY, "fact_event_items", ERROR, "duplicate or missing event_item_id"),
        CheckInfo(FACT_ITEMS_SCHEMA, "fact_event_items", ERROR, "missing keys, bad attribution_source, wrong partition"),
        CheckInfo(FACT_ITEMS_RECONCILIATION, "fact_event_items", ERROR, "item rows that differ from silver_items"),
        CheckInfo(FACT_ITEMS_ORPHANS, "fact_event_items", ERROR, "item rows whose event is not in fact_events"),
        CheckInfo(FACT_ITEMS_MONEY, "fact_event_items", ERROR, "negative price, total_price or discount_amount"),
        CheckInfo(DIM_ITEMS_KEY, "dim_items", ERROR, "duplicate or missing item_sk"),
        CheckInfo(DIM_ITEMS_SCD2, "dim_items", ERROR, "two current versions, overlapping or gapped validity"),
        CheckInfo(DIM_ITEMS_COVERAGE, "dim_items", ERROR, "fact items with no dimension row"),
        CheckInfo(DIM_ITEMS_MONEY, "dim_items", ERROR, "negative last_price"),
        CheckInfo(DIM_USERS_KEY, "dim_users", ERROR, "duplicate or missing user_sk or user_id"),
        CheckInfo(DIM_USERS_COVERAGE, "dim_users", ERROR, "fact users with no dimension row"),
        CheckInfo(DIM_USERS_MONEY, "dim_users", ERROR, "negative total_revenue"),
        CheckInfo(MART_LIST_GRAIN, "mart_item_list_daily", ERROR, "two rows for one date and list"),
        CheckInfo(MART_LIST_RATES, "mart_item_list_daily", WARN, "how often a rate exceeds 1 (allowed)"),
        CheckInfo(MART_LIST_MONEY, "mart_item_list_daily", ERROR, "negative attributed_revenue"),
        CheckInfo(MART_PRODUCT_GRAIN, "mart_product_daily", ERROR, "two rows for one date and item"),
        CheckInfo(MART_PRODUCT_RATES, "mart_product_daily", WARN, "how often a rate exceeds 1 (allowed)"),
        CheckInfo(MART_PRODUCT_MONEY, "mart_product_daily", ERROR, "negative item_revenue"),
        CheckInfo(ENGAGEMENT_RECONCILIATION, "master_list_items_engagement", ERROR, "listed item rows lost in the view's join"),
    ]
}  # fmt: skip


def _specs(names: Iterable[str], partitioned: bool) -> list[AssetCheckSpec]:
    return [CATALOG[name].spec(partitioned) for name in names]


def _result(name: str, *outcomes: Outcome) -> AssetCheckResult:
    """One check result from one or more rules: it passes when all of them pass."""
    failed = [o for o in outcomes if not o.passed]
    metadata = {k: v for o in outcomes for k, v in o.metadata.items()}
    metadata["violations"] = sum(o.metadata.get("violations", 0) for o in outcomes)
    metadata["examples"] = "\n".join(o.metadata.get("examples", "") for o in failed).strip()
    message = "; ".join(o.message for o in (failed or outcomes))
    return CATALOG[name].result(Outcome(not failed, message, metadata))


@contextmanager
def _views(**views: tuple[str, Iterable[Path]]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with each view bound to files of a table: view=(table, files)."""
    con = connect()
    try:
        for view, (table, files) in views.items():
            bind_parquet(con, view, table, files)
        yield con
    finally:
        con.close()


def _bronze_files(lake: Lake, event_date: date) -> list[Path]:
    return sorted(lake.partition_dir("bronze_events", event_date).glob("*.parquet"))


def _all_partitions(lake: Lake, table: str) -> list[Path]:
    return sorted(lake.table_dir(table).glob("event_date=*/*.parquet"))


def _bronze_read_model(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create temp view bronze_events as {load_sql('bronze', 'bronze_events')}")


def _day(context: AssetCheckExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


# The ingest job reports bronze partitions without executing the asset, so this check follows
# those reports itself, requested by the automation sensor alongside silver for the same date.
@multi_asset_check(
    specs=[CATALOG[BRONZE_SCHEMA].spec(partitioned=True, automation_condition=follow_upstream())],
    name="bronze_events_checks",
)
def bronze_events_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    day = _day(context)
    with _views(bronze_parts=("bronze_events", _bronze_files(lake.lake, day))) as con:
        _bronze_read_model(con)
        required = ["message_id", "batch_index", "received_at", "raw", "event_timestamp"]
        yield _result(
            BRONZE_SCHEMA,
            rules.not_null(con, "bronze_events", required, "message_id"),
            rules.in_partition(con, "bronze_events", day, "message_id", lake.timezone),
        )


def newest_bronze_receipt(lake: Lake) -> tuple[str | None, datetime | None]:
    """The newest bronze partition holding data, and the latest receipt in it (reads one day)."""
    for directory in sorted(lake.table_dir("bronze_events").glob("event_date=*"), reverse=True):
        files = sorted(directory.glob("*.parquet"))
        if not files:
            continue
        with _views(bronze_parts=("bronze_events", files)) as con:
            latest = con.execute("select max(received_at) from bronze_parts").fetchone()[0]
        return directory.name.removeprefix("event_date="), latest
    return None, None


@asset_check(
    asset="bronze_events",
    name=BRONZE_FRESHNESS,
    description=CATALOG[BRONZE_FRESHNESS].protects,
    metadata={"severity": CATALOG[BRONZE_FRESHNESS].severity.value},
    automation_condition=AutomationCondition.cron_tick_passed(
        FRESHNESS_CRON, cron_timezone=SETTINGS.timezone
    ),
)
def bronze_events_freshness(lake: LakeResource) -> AssetCheckResult:
    partition, latest = newest_bronze_receipt(lake.lake)
    hours = Thresholds.from_env().freshness_hours
    return _result(BRONZE_FRESHNESS, rules.freshness(partition, latest, datetime.now(UTC), hours))


@multi_asset_check(specs=_specs([QUARANTINE_CODES], partitioned=False), name="quarantine_checks")
def quarantine_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    with _views(quarantine_parts=("quarantine", lake.lake.quarantine_files())) as con:
        con.execute(f"create temp view quarantine as {load_sql('bronze', 'quarantine')}")
        yield _result(
            QUARANTINE_CODES,
            rules.accepted_values(con, "quarantine", "reason", QUARANTINE_REASONS),
            rules.accepted_values(con, "quarantine", "stage", QUARANTINE_STAGES),
        )


SILVER_CHECKS = [
    SILVER_EVENTS_KEY,
    SILVER_EVENTS_SCHEMA,
    SILVER_RECONCILIATION,
    SILVER_QUARANTINE_RATE,
    SILVER_UNKNOWN_EVENT_NAMES,
    SILVER_UNKNOWN_PLATFORM,
    SILVER_CROSS_PARTITION_DUPLICATES,
    SILVER_ITEMS_KEY,
    SILVER_ITEMS_ORPHANS,
    SILVER_ITEMS_MONEY,
]


@multi_asset_check(specs=_specs(SILVER_CHECKS, partitioned=True), name="silver_checks")
def silver_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    day, store, limits = _day(context), lake.lake, Thresholds.from_env()
    window = range(-limits.duplicate_window_days, limits.duplicate_window_days + 1)
    with _views(
        bronze_parts=("bronze_events", _bronze_files(store, day)),
        silver_events=("silver_events", [store.partition_file("silver_events", day)]),
        silver_items=("silver_items", [store.partition_file("silver_items", day)]),
        silver_quarantine=("quarantine", [store.silver_quarantine_file(day)]),
        silver_event_ids=(
            "silver_events",
            [store.partition_file("silver_events", day + timedelta(days=n)) for n in window],
        ),
    ) as con:
        _bronze_read_model(con)
        required = ["message_id", "batch_index", "received_at", "event_timestamp", "user_id"]
        yield _result(SILVER_EVENTS_KEY, rules.unique_key(con, "silver_events", ["event_id"]))
        yield _result(
            SILVER_EVENTS_SCHEMA,
            rules.not_null(con, "silver_events", [*required, "event_name"], "event_id"),
            rules.in_partition(con, "silver_events", day, "event_id", lake.timezone),
            rules.accepted_values(con, "silver_events", "platform", PLATFORMS),
        )
        yield _result(SILVER_RECONCILIATION, rules.silver_reconciliation(con))
        yield _result(
            SILVER_QUARANTINE_RATE, rules.quarantine_rate(con, limits.max_quarantine_rate)
        )
        yield _result(
            SILVER_UNKNOWN_EVENT_NAMES,
            rules.unknown_event_names(con, sorted(limits.known_event_names)),
        )
        yield _result(
            SILVER_UNKNOWN_PLATFORM,
            rules.unknown_platform_share(con, limits.max_unknown_platform_share),
        )
        yield _result(SILVER_CROSS_PARTITION_DUPLICATES, rules.cross_partition_duplicates(con, day))
        yield _result(
            SILVER_ITEMS_KEY,
            rules.unique_key(con, "silver_items", ["item_record_id"]),
            rules.in_partition(con, "silver_items", day, "item_record_id"),
        )
        yield _result(
            SILVER_ITEMS_ORPHANS,
            rules.orphans(con, "silver_items", "silver_events", "event_id", "item_record_id"),
        )
        yield _result(
            SILVER_ITEMS_MONEY,
            rules.negative_money(
                con,
                "silver_items",
                ["price", "discount", "discount_amount"],
                ["item_record_id"],
            ),
        )


FACT_EVENTS_CHECKS = [
    FACT_EVENTS_KEY,
    FACT_EVENTS_SCHEMA,
    FACT_EVENTS_RECONCILIATION,
    FACT_EVENTS_SESSIONS,
]


@multi_asset_check(specs=_specs(FACT_EVENTS_CHECKS, partitioned=True), name="fact_events_checks")
def fact_events_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    day, store = _day(context), lake.lake
    lookback = [day - timedelta(days=n) for n in range(SESSION_LOOKBACK_DAYS, -1, -1)]
    with _views(
        fact_events=("fact_events", [store.partition_file("fact_events", day)]),
        silver_events=("silver_events", [store.partition_file("silver_events", day)]),
        sessions_window=(
            "fact_events",
            [store.partition_file("fact_events", d) for d in lookback],
        ),
    ) as con:
        yield _result(FACT_EVENTS_KEY, rules.unique_key(con, "fact_events", ["event_id"]))
        yield _result(
            FACT_EVENTS_SCHEMA,
            rules.not_null(
                con, "fact_events", ["user_id", "session_id", "event_timestamp"], "event_id"
            ),
            rules.in_partition(con, "fact_events", day, "event_id", lake.timezone),
            rules.accepted_values(con, "fact_events", "platform", PLATFORMS),
        )
        yield _result(
            FACT_EVENTS_RECONCILIATION,
            rules.same_keys(con, "silver_events", "event_id", "fact_events", "event_id"),
        )
        yield _result(FACT_EVENTS_SESSIONS, rules.session_violations(con, day))


FACT_ITEMS_CHECKS = [
    FACT_ITEMS_KEY,
    FACT_ITEMS_SCHEMA,
    FACT_ITEMS_RECONCILIATION,
    FACT_ITEMS_ORPHANS,
    FACT_ITEMS_MONEY,
]


@multi_asset_check(
    specs=_specs(FACT_ITEMS_CHECKS, partitioned=True), name="fact_event_items_checks"
)
def fact_event_items_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    day, store = _day(context), lake.lake
    with _views(
        fact_event_items=("fact_event_items", [store.partition_file("fact_event_items", day)]),
        fact_events=("fact_events", [store.partition_file("fact_events", day)]),
        silver_items=("silver_items", [store.partition_file("silver_items", day)]),
    ) as con:
        yield _result(FACT_ITEMS_KEY, rules.unique_key(con, "fact_event_items", ["event_item_id"]))
        yield _result(
            FACT_ITEMS_SCHEMA,
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
        yield _result(
            FACT_ITEMS_RECONCILIATION,
            rules.same_keys(
                con, "silver_items", "item_record_id", "fact_event_items", "event_item_id"
            ),
        )
        yield _result(
            FACT_ITEMS_ORPHANS,
            rules.orphans(con, "fact_event_items", "fact_events", "event_id", "event_item_id"),
        )
        yield _result(
            FACT_ITEMS_MONEY,
            rules.negative_money(
                con,
                "fact_event_items",
                ["price", "total_price", "discount_amount"],
                ["event_item_id"],
            ),
        )


DIM_ITEMS_CHECKS = [DIM_ITEMS_KEY, DIM_ITEMS_SCD2, DIM_ITEMS_COVERAGE, DIM_ITEMS_MONEY]


@multi_asset_check(specs=_specs(DIM_ITEMS_CHECKS, partitioned=False), name="dim_items_checks")
def dim_items_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    store = lake.lake
    with _views(
        dim_items=("dim_items", [store.table_dir("dim_items") / "part.parquet"]),
        fact_event_items=("fact_event_items", _all_partitions(store, "fact_event_items")),
    ) as con:
        yield _result(
            DIM_ITEMS_KEY,
            rules.unique_key(con, "dim_items", ["item_sk"]),
            rules.not_null(con, "dim_items", ["item_id", "valid_from"], "item_sk"),
        )
        yield _result(DIM_ITEMS_SCD2, rules.scd2_integrity(con))
        yield _result(
            DIM_ITEMS_COVERAGE,
            rules.orphans(con, "fact_event_items", "dim_items", "item_id", "event_item_id"),
        )
        yield _result(
            DIM_ITEMS_MONEY, rules.negative_money(con, "dim_items", ["last_price"], ["item_sk"])
        )


DIM_USERS_CHECKS = [DIM_USERS_KEY, DIM_USERS_COVERAGE, DIM_USERS_MONEY]


@multi_asset_check(specs=_specs(DIM_USERS_CHECKS, partitioned=False), name="dim_users_checks")
def dim_users_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    store = lake.lake
    with _views(
        dim_users=("dim_users", [store.table_dir("dim_users") / "part.parquet"]),
        fact_events=("fact_events", _all_partitions(store, "fact_events")),
    ) as con:
        yield _result(
            DIM_USERS_KEY,
            rules.unique_key(con, "dim_users", ["user_sk"]),
            rules.unique_key(con, "dim_users", ["user_id"]),
        )
        yield _result(
            DIM_USERS_COVERAGE,
            rules.orphans(con, "fact_events", "dim_users", "user_id", "event_id"),
        )
        yield _result(
            DIM_USERS_MONEY,
            rules.negative_money(con, "dim_users", ["total_revenue"], ["user_id"]),
        )


def _mart_checks(
    con: duckdb.DuckDBPyConnection,
    view: str,
    day: date,
    names: tuple[str, str, str],
    dimension: str,
    rates: list[str],
    money: list[str],
) -> Iterator[AssetCheckResult]:
    grain, rate_check, money_check = names
    key = ["event_date", dimension]
    yield _result(
        grain, rules.unique_key(con, view, key), rules.in_partition(con, view, day, dimension)
    )
    yield _result(rate_check, rules.rates_outside_unit(con, view, rates, key))
    yield _result(money_check, rules.negative_money(con, view, money, key))


MART_LIST_CHECKS = (MART_LIST_GRAIN, MART_LIST_RATES, MART_LIST_MONEY)
MART_PRODUCT_CHECKS = (MART_PRODUCT_GRAIN, MART_PRODUCT_RATES, MART_PRODUCT_MONEY)


@multi_asset_check(
    specs=_specs(MART_LIST_CHECKS, partitioned=True), name="mart_item_list_daily_checks"
)
def mart_item_list_daily_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    day, table = _day(context), "mart_item_list_daily"
    with _views(mart=(table, [lake.lake.partition_file(table, day)])) as con:
        yield from _mart_checks(
            con,
            "mart",
            day,
            MART_LIST_CHECKS,
            "item_list_name",
            ["click_through_rate", "item_click_rate"],
            ["attributed_revenue"],
        )


@multi_asset_check(
    specs=_specs(MART_PRODUCT_CHECKS, partitioned=True), name="mart_product_daily_checks"
)
def mart_product_daily_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    day, table = _day(context), "mart_product_daily_metrics"
    with _views(mart=(table, [lake.lake.partition_file(table, day)])) as con:
        yield from _mart_checks(
            con,
            "mart",
            day,
            MART_PRODUCT_CHECKS,
            "item_id",
            ["click_through_rate", "cart_to_view_rate", "purchase_to_view_rate"],
            ["item_revenue"],
        )


@multi_asset_check(
    specs=_specs([ENGAGEMENT_RECONCILIATION], partitioned=False),
    name="master_list_items_engagement_checks",
)
def master_list_items_engagement_checks(lake: LakeResource) -> Iterator[AssetCheckResult]:
    # The view's own SQL over the same Parquet files: analytics.duckdb is never opened here.
    store = lake.lake
    with _views(
        fact_event_items=("fact_event_items", _all_partitions(store, "fact_event_items")),
        fact_events=("fact_events", _all_partitions(store, "fact_events")),
    ) as con:
        view_sql = load_sql("views", "master_list_items_engagement")
        con.execute(f"create temp view engagement as {view_sql}")
        con.execute(
            "create temp view listed_items as "
            "select * from fact_event_items where item_list_name is not null"
        )
        yield _result(
            ENGAGEMENT_RECONCILIATION,
            rules.unique_key(con, "engagement", ["event_item_id"]),
            rules.same_keys(con, "listed_items", "event_item_id", "engagement", "event_item_id"),
        )


all_asset_checks: list[AssetChecksDefinition] = [
    bronze_events_checks,
    bronze_events_freshness,
    quarantine_checks,
    silver_checks,
    fact_events_checks,
    fact_event_items_checks,
    dim_items_checks,
    dim_users_checks,
    mart_item_list_daily_checks,
    mart_product_daily_checks,
    master_list_items_engagement_checks,
]
