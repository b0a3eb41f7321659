"""The table registry: every table of the lake and view of analytics.duckdb (TABLES.md).

The one place a table is written down: where its files live, whether it is partitioned by
event_date, its columns, and its SQL model under sql/. The Lake's paths, empty tables, Parquet
writes, the views in analytics.duckdb, and the column schemas and code references shown in the
Dagster UI all come from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Table:
    """A table of the lake, or (with no `folder`) a view of analytics.duckdb over them."""

    name: str
    # Its directory under $NELO_DATA_DIR; None for a view, which has no files.
    folder: str | None
    # Declared for stored tables only; a view's columns are whatever its SQL selects.
    columns: tuple[Column, ...]
    # The folder under sql/ holding <name>.sql: the model that builds it, or, with parts_view,
    # the model that reads it.
    sql_folder: str
    # One event_date=YYYY-MM-DD directory a day, each replaced as a whole (bronze appends).
    partitioned: bool = False
    # Bronze and quarantine files are append-only and may hold a row twice: their model is
    # applied when they are read, to the files bound as a view of this name, not when written.
    parts_view: str | None = None

    @property
    def sql_path(self) -> Path:
        return SQL_DIR / self.sql_folder / f"{self.name}.sql"


def _cols(*spec: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*item) for item in spec)


MONEY = "DECIMAL(18,2)"

BRONZE_EVENTS = _cols(
    ("message_id", "VARCHAR", "SQS message id"),
    ("batch_index", "INTEGER", "0-based position in a batch body; 0 for a single-event body"),
    ("received_at", "TIMESTAMPTZ", "earliest recorded SQS receipt (UTC)"),
    ("receive_count", "INTEGER", "SQS ApproximateReceiveCount of that receipt"),
    ("event_date", "DATE", "calendar date of event_timestamp in NELO_TIMEZONE"),
    ("raw", "VARCHAR", "the event's JSON text; for a single-event body, the body unchanged"),
    ("event_timestamp", "TIMESTAMPTZ", "event time as routed (UTC)"),
    ("landing_batch", "VARCHAR", "landing archive batch that holds the message body"),
)

QUARANTINE = _cols(
    ("message_id", "VARCHAR", "SQS message id"),
    ("received_at", "TIMESTAMPTZ", "SQS receipt time (UTC)"),
    (
        "batch_index",
        "INTEGER",
        "event index in the body; NULL when the whole message is quarantined",
    ),
    ("event_date", "DATE", "event date when known"),
    ("reason", "VARCHAR", "reason code from EVENTS.md"),
    ("detail", "VARCHAR", "human-readable detail"),
    ("raw", "VARCHAR", "the raw body or the event's JSON"),
    ("stage", "VARCHAR", "where it was quarantined: ingest or silver"),
)

SILVER_EVENTS = _cols(
    ("event_id", "VARCHAR", "client event id, or md5(message_id:batch_index); PK in its partition"),
    ("message_id", "VARCHAR", "SQS message id"),
    ("batch_index", "INTEGER", "position in the batch body"),
    ("received_at", "TIMESTAMPTZ", "SQS receipt time (UTC)"),
    ("event_timestamp", "TIMESTAMPTZ", "device event time (UTC)"),
    ("event_date", "DATE", "date of event_timestamp in NELO_TIMEZONE"),
    ("user_id", "VARCHAR", "signed-in user"),
    ("user_pseudo_id", "VARCHAR", "app-instance id"),
    ("event_name", "VARCHAR", "GA4 event name"),
    ("platform", "VARCHAR", "IOS, ANDROID, WEB or UNKNOWN"),
    ("app_version", "VARCHAR", "app version"),
    ("item_list_id", "VARCHAR", "event-level item_list_id param"),
    ("item_list_name", "VARCHAR", "event-level item_list_name param"),
    ("currency", "VARCHAR", "currency param, default MXN"),
    ("value", MONEY, "value param"),
    ("transaction_id", "VARCHAR", "transaction_id param"),
    ("search_term", "VARCHAR", "search_term param"),
    ("event_params", "JSON", "all event params as a JSON object"),
    ("item_count", "INTEGER", "number of items"),
)

SILVER_ITEMS = _cols(
    ("item_record_id", "VARCHAR", "PK: event_id || ':' || item_index"),
    ("event_id", "VARCHAR", "parent event"),
    ("event_date", "DATE", "parent event date"),
    ("item_index", "INTEGER", "0-based position in the event's items"),
    ("item_id", "VARCHAR", "product SKU"),
    ("item_name", "VARCHAR", "product name"),
    ("item_brand", "VARCHAR", "brand"),
    ("item_category", "VARCHAR", "category"),
    ("item_category2", "VARCHAR", "category level 2"),
    ("item_category3", "VARCHAR", "category level 3"),
    ("item_category4", "VARCHAR", "category level 4"),
    ("item_category5", "VARCHAR", "category level 5"),
    ("item_variant", "VARCHAR", "variant"),
    ("price", MONEY, "unit price after discount"),
    ("quantity", "INTEGER", "quantity, default 1"),
    ("discount", MONEY, "unit discount, default 0"),
    ("discount_amount", MONEY, "discount x quantity"),
    ("discounts", "VARCHAR", "promotion codes joined with ','"),
    ("coupon", "VARCHAR", "coupon"),
    ("item_list_id", "VARCHAR", "list id after the event-level fallback"),
    ("item_list_name", "VARCHAR", "list name after the event-level fallback"),
    ("position_in_list", "INTEGER", "index as sent by the app"),
    ("in_stock", "BOOLEAN", "in stock; NULL when absent"),
    ("item_params", "JSON", "custom item params as a JSON object"),
)

FACT_EVENTS = _cols(
    ("event_id", "VARCHAR", "PK"),
    ("user_id", "VARCHAR", "user"),
    ("session_id", "VARCHAR", "deterministic session id (30-minute rule)"),
    ("event_name", "VARCHAR", "GA4 event name"),
    ("event_timestamp", "TIMESTAMPTZ", "event time (UTC)"),
    ("event_date", "DATE", "event date in NELO_TIMEZONE"),
    ("event_hour", "INTEGER", "hour 0..23 in NELO_TIMEZONE"),
    ("platform", "VARCHAR", "IOS, ANDROID, WEB or UNKNOWN"),
    ("item_list_name", "VARCHAR", "event-level list name"),
    ("transaction_id", "VARCHAR", "transaction id"),
    ("value", MONEY, "value param"),
    ("currency", "VARCHAR", "currency"),
    ("processed_at", "TIMESTAMPTZ", "watermark: latest receipt among the partition's inputs"),
)

FACT_EVENT_ITEMS = _cols(
    ("event_item_id", "VARCHAR", "PK, = silver item_record_id"),
    ("event_id", "VARCHAR", "parent event"),
    ("event_date", "DATE", "event date"),
    ("event_timestamp", "TIMESTAMPTZ", "event time (UTC)"),
    ("user_id", "VARCHAR", "user"),
    ("session_id", "VARCHAR", "session"),
    ("event_name", "VARCHAR", "GA4 event name"),
    ("item_id", "VARCHAR", "product SKU"),
    ("item_name", "VARCHAR", "name as sent"),
    ("item_brand", "VARCHAR", "brand as sent"),
    ("item_category", "VARCHAR", "category as sent"),
    ("price", MONEY, "unit price"),
    ("quantity", "INTEGER", "quantity"),
    ("total_price", MONEY, "price x quantity"),
    ("discount_amount", MONEY, "discount x quantity"),
    ("has_discount", "BOOLEAN", "discount_amount > 0 or any discount code"),
    ("in_stock", "BOOLEAN", "in stock"),
    ("item_list_id", "VARCHAR", "list id (after fallback)"),
    ("item_list_name", "VARCHAR", "list name (after fallback)"),
    ("position_in_list", "INTEGER", "position in list"),
    ("attributed_item_list_name", "VARCHAR", "list credited with this row"),
    ("attribution_source", "VARCHAR", "explicit, last_click or none"),
)

DIM_ITEMS = _cols(
    ("item_sk", "VARCHAR", "surrogate key of the version"),
    ("item_id", "VARCHAR", "product SKU"),
    ("item_name", "VARCHAR", "name in this version"),
    ("item_brand", "VARCHAR", "brand in this version"),
    ("item_category", "VARCHAR", "category in this version"),
    ("valid_from", "TIMESTAMPTZ", "first event time of the version"),
    ("valid_to", "TIMESTAMPTZ", "next version's valid_from; NULL when current"),
    ("is_current", "BOOLEAN", "the current version"),
    ("first_seen_at", "TIMESTAMPTZ", "first event time in the version"),
    ("last_seen_at", "TIMESTAMPTZ", "last event time in the version"),
    ("last_price", MONEY, "latest non-null price in the version"),
)

DIM_USERS = _cols(
    ("user_sk", "VARCHAR", "surrogate key"),
    ("user_id", "VARCHAR", "user"),
    ("first_seen_at", "TIMESTAMPTZ", "first event time"),
    ("last_seen_at", "TIMESTAMPTZ", "last event time"),
    ("first_platform", "VARCHAR", "platform of the first event"),
    ("last_platform", "VARCHAR", "platform of the last event"),
    ("total_sessions", "BIGINT", "sessions"),
    ("total_events", "BIGINT", "events"),
    ("total_purchases", "BIGINT", "purchase events"),
    ("total_revenue", MONEY, "sum of purchase item total_price"),
)

MART_ITEM_LIST_DAILY = _cols(
    ("event_date", "DATE", "event date"),
    ("item_list_name", "VARCHAR", "list; (not set) when absent"),
    ("list_view_events", "BIGINT", "view_item_list events of the list"),
    ("list_viewers", "BIGINT", "users with such events"),
    ("item_impressions", "BIGINT", "their item rows"),
    ("list_click_events", "BIGINT", "select_item events of the list"),
    ("list_clickers", "BIGINT", "users with such events"),
    ("items_clicked", "BIGINT", "sum of qty of their item rows"),
    ("click_through_rate", "DOUBLE", "list_clickers / list_viewers"),
    ("item_click_rate", "DOUBLE", "items_clicked / item_impressions"),
    ("attributed_add_to_cart_items", "BIGINT", "qty of add_to_cart rows attributed to the list"),
    ("attributed_checkout_items", "BIGINT", "qty of begin_checkout rows attributed"),
    ("attributed_purchased_items", "BIGINT", "qty of purchase rows attributed"),
    ("attributed_revenue", MONEY, "total_price of purchase rows attributed"),
    ("attributed_purchasers", "BIGINT", "users with purchase rows attributed"),
)

MART_PRODUCT_DAILY_METRICS = _cols(
    ("event_date", "DATE", "event date"),
    ("item_id", "VARCHAR", "product SKU"),
    ("impressions", "BIGINT", "view_item_list item rows"),
    ("clicks", "BIGINT", "sum of qty of select_item rows"),
    ("click_through_rate", "DOUBLE", "clicks / impressions"),
    ("items_viewed", "BIGINT", "sum of qty of view_item rows"),
    ("items_added_to_cart", "BIGINT", "sum of qty of add_to_cart rows"),
    ("items_checked_out", "BIGINT", "sum of qty of begin_checkout rows"),
    ("items_purchased", "BIGINT", "sum of qty of purchase rows"),
    ("item_revenue", MONEY, "sum of total_price of purchase rows"),
    ("viewers", "BIGINT", "users with view_item rows"),
    ("cart_adders", "BIGINT", "users with add_to_cart rows"),
    ("purchasers", "BIGINT", "users with purchase rows"),
    ("cart_to_view_rate", "DOUBLE", "cart_adders / viewers"),
    ("purchase_to_view_rate", "DOUBLE", "purchasers / viewers"),
)

MART_LIST_POSITION_DAILY = _cols(
    ("event_date", "DATE", "event date"),
    ("item_list_name", "VARCHAR", "list; (not set) when absent"),
    ("position_in_list", "INTEGER", "position in the list as sent by the app"),
    ("item_impressions", "BIGINT", "view_item_list item rows of the list at that position"),
    ("item_clicks", "BIGINT", "sum of qty of select_item item rows at that position"),
    ("item_click_rate", "DOUBLE", "item_clicks / item_impressions"),
)

# In dependency order: analytics.duckdb creates its views in this order.
TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table(
            "bronze_events",
            "bronze/bronze_events",
            BRONZE_EVENTS,
            "bronze",
            partitioned=True,
            parts_view="bronze_parts",
        ),
        # One folder for both sources: ingest/received_date=*/ and silver/event_date=*/.
        Table("quarantine", "quarantine", QUARANTINE, "bronze", parts_view="quarantine_parts"),
        Table("silver_events", "silver/silver_events", SILVER_EVENTS, "silver", partitioned=True),
        Table("silver_items", "silver/silver_items", SILVER_ITEMS, "silver", partitioned=True),
        Table("fact_events", "gold/fact_events", FACT_EVENTS, "gold", partitioned=True),
        Table(
            "fact_event_items", "gold/fact_event_items", FACT_EVENT_ITEMS, "gold", partitioned=True
        ),
        Table("dim_items", "gold/dim_items", DIM_ITEMS, "gold"),
        Table("dim_users", "gold/dim_users", DIM_USERS, "gold"),
        Table(
            "mart_item_list_daily",
            "gold/mart_item_list_daily",
            MART_ITEM_LIST_DAILY,
            "marts",
            partitioned=True,
        ),
        Table(
            "mart_product_daily_metrics",
            "gold/mart_product_daily_metrics",
            MART_PRODUCT_DAILY_METRICS,
            "marts",
            partitioned=True,
        ),
        Table(
            "mart_list_position_daily",
            "gold/mart_list_position_daily",
            MART_LIST_POSITION_DAILY,
            "marts",
            partitioned=True,
        ),
        # The stored metrics with the current product names from dim_items.
        Table("mart_product_daily", None, (), "views"),
        Table("master_list_items_engagement", None, (), "views"),
    )
}
STORED_TABLES: tuple[Table, ...] = tuple(t for t in TABLES.values() if t.folder is not None)
VIEWS: tuple[Table, ...] = tuple(t for t in TABLES.values() if t.folder is None)

TABLE_SCHEMAS: dict[str, tuple[Column, ...]] = {t.name: t.columns for t in STORED_TABLES}


def select_list(table: str) -> str:
    """`cast(col as type) as col, ...` in schema order: every write goes through this."""
    return ", ".join(f'cast("{c.name}" as {c.type}) as "{c.name}"' for c in TABLE_SCHEMAS[table])


def empty_select(table: str) -> str:
    """A zero-row SELECT with the table's columns and types."""
    cols = ", ".join(f'cast(null as {c.type}) as "{c.name}"' for c in TABLE_SCHEMAS[table])
    return f"select {cols} limit 0"
