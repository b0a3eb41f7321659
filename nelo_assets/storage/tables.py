"""The table registry: every table of the lake and view of analytics.duckdb.

The one place a table is written down: where its files live, whether it is partitioned by
event_date, what a row is, its columns with their meaning, and its SQL model under sql/. The
Lake's paths, empty tables, Parquet writes, the views in analytics.duckdb, docs/tables.md, and
the column schemas and code references shown in the Dagster UI all come from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nelo_assets.contract import DEFAULT_CURRENCY, REASON_CODES

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
    # Every column a reader sees. A stored table is written with exactly these; a view's are
    # what its SQL selects, written down for the docs and the UI (a test compares them).
    columns: tuple[Column, ...]
    # The folder under sql/ holding <name>.sql: the model that builds it, or, with parts_view,
    # the model that reads it.
    sql_folder: str
    # One event_date=YYYY-MM-DD directory a day, each replaced as a whole (bronze appends).
    partitioned: bool = False
    # Bronze and quarantine files are append-only and may hold a row twice: their model is
    # applied when they are read, to the files bound as a view of this name, not when written.
    parts_view: str | None = None
    # What a row is and the rules that make it, for docs/tables.md; blank lines part paragraphs.
    description: str = field(kw_only=True)

    @property
    def sql_path(self) -> Path:
        return SQL_DIR / self.sql_folder / f"{self.name}.sql"


def _cols(*spec: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*item) for item in spec)


def _pick(columns: tuple[Column, ...], *names: str) -> tuple[Column, ...]:
    """The named columns of another table, as a view passes them through."""
    by_name = {column.name: column for column in columns}
    return tuple(by_name[name] for name in names)


MONEY = "DECIMAL(18,2)"

BRONZE_EVENTS = _cols(
    ("message_id", "VARCHAR", "SQS message id; a message delivered more than once appears once"),
    (
        "batch_index",
        "INTEGER",
        "0-based position of the event in a batch body; 0 for a single event",
    ),
    ("received_at", "TIMESTAMPTZ", "earliest recorded SQS receipt of the message (UTC)"),
    ("receive_count", "INTEGER", "SQS ApproximateReceiveCount of that receipt"),
    ("event_date", "DATE", "calendar date of event_timestamp in NELO_TIMEZONE: the partition"),
    ("raw", "VARCHAR", "the event's JSON text; for a single-event body, the body unchanged"),
    ("event_timestamp", "TIMESTAMPTZ", "event time as read at ingestion (UTC)"),
    ("landing_batch", "VARCHAR", "landing archive batch that holds the message body byte for byte"),
)

QUARANTINE = _cols(
    ("message_id", "VARCHAR", "SQS message id"),
    ("received_at", "TIMESTAMPTZ", "SQS receipt time (UTC)"),
    (
        "batch_index",
        "INTEGER",
        "the event's position in the body; NULL when the whole message is quarantined",
    ),
    ("event_date", "DATE", "the event's date when it is known; NULL otherwise"),
    ("reason", "VARCHAR", f"the first rule broken: {', '.join(REASON_CODES)}"),
    ("detail", "VARCHAR", "what exactly was wrong, in words a person can read"),
    ("raw", "VARCHAR", "the body (invalid UTF-8 backslash-escaped), or the event's JSON"),
    ("stage", "VARCHAR", "where it was quarantined: ingest or silver"),
)

SILVER_EVENTS = _cols(
    (
        "event_id",
        "VARCHAR",
        "the client's event id, else md5(message_id:batch_index); unique in its partition",
    ),
    ("message_id", "VARCHAR", "SQS message id of the copy kept"),
    ("batch_index", "INTEGER", "position in the batch body; 0 for a single event"),
    ("received_at", "TIMESTAMPTZ", "earliest recorded SQS receipt of the copy kept (UTC)"),
    ("event_timestamp", "TIMESTAMPTZ", "the device's event time (UTC)"),
    ("event_date", "DATE", "calendar date of event_timestamp in NELO_TIMEZONE: the partition"),
    ("user_id", "VARCHAR", "the signed-in user"),
    ("user_pseudo_id", "VARCHAR", "the app-instance id"),
    ("event_name", "VARCHAR", "lowercase snake case; GA4's names for e-commerce events"),
    ("platform", "VARCHAR", "IOS, ANDROID or WEB; UNKNOWN when missing or anything else"),
    ("app_version", "VARCHAR", "app version as sent"),
    ("item_list_id", "VARCHAR", "the event-level item_list_id param"),
    ("item_list_name", "VARCHAR", "the event-level item_list_name param"),
    ("currency", "VARCHAR", f"the currency param; {DEFAULT_CURRENCY} when absent"),
    ("value", MONEY, "the value param, in the event currency"),
    ("transaction_id", "VARCHAR", "the transaction_id param"),
    ("search_term", "VARCHAR", "the search_term param"),
    ("event_params", "JSON", "every event param as a JSON object (GA4's list form flattened)"),
    ("item_count", "INTEGER", "number of the event's items (its silver_items rows)"),
)

SILVER_ITEMS = _cols(
    ("item_record_id", "VARCHAR", "primary key: event_id || ':' || item_index"),
    ("event_id", "VARCHAR", "the event (silver_events) the item belongs to"),
    ("event_date", "DATE", "the event's date: the partition"),
    ("item_index", "INTEGER", "0-based position in the event's items"),
    ("item_id", "VARCHAR", "product SKU (an integer kept as its decimal string)"),
    ("item_name", "VARCHAR", "product name as sent"),
    ("item_brand", "VARCHAR", "brand as sent"),
    ("item_category", "VARCHAR", "category as sent"),
    ("item_category2", "VARCHAR", "category, level 2"),
    ("item_category3", "VARCHAR", "category, level 3"),
    ("item_category4", "VARCHAR", "category, level 4"),
    ("item_category5", "VARCHAR", "category, level 5"),
    ("item_variant", "VARCHAR", "variant as sent"),
    ("price", MONEY, "unit price after discount, in the event currency"),
    ("quantity", "INTEGER", "quantity; 1 when absent"),
    ("discount", MONEY, "discount per unit; 0 when absent"),
    ("discount_amount", MONEY, "discount x quantity"),
    ("discounts", "VARCHAR", "promotion codes applied, joined with ','"),
    ("coupon", "VARCHAR", "coupon as sent"),
    ("item_list_id", "VARCHAR", "the item's list id, else the event-level param (GA4's rule)"),
    ("item_list_name", "VARCHAR", "the item's list name, else the event-level param (GA4's rule)"),
    ("position_in_list", "INTEGER", "the item's index in its list, as the app sent it"),
    ("in_stock", "BOOLEAN", "whether the item was in stock; NULL when not sent"),
    ("item_params", "JSON", "custom item params as a JSON object"),
)

FACT_EVENTS = _cols(
    ("event_id", "VARCHAR", "primary key"),
    ("user_id", "VARCHAR", "the signed-in user"),
    ("session_id", "VARCHAR", "the user's session: the same events always give the same id"),
    ("event_name", "VARCHAR", "event name"),
    ("event_timestamp", "TIMESTAMPTZ", "the device's event time (UTC)"),
    ("event_date", "DATE", "calendar date of event_timestamp in NELO_TIMEZONE: the partition"),
    ("event_hour", "INTEGER", "hour of event_timestamp in NELO_TIMEZONE, 0 to 23"),
    ("platform", "VARCHAR", "IOS, ANDROID, WEB or UNKNOWN"),
    ("item_list_name", "VARCHAR", "the event-level list name"),
    ("transaction_id", "VARCHAR", "the transaction_id param"),
    ("value", MONEY, "the value param, in the event currency"),
    ("currency", "VARCHAR", "the event currency"),
    (
        "processed_at",
        "TIMESTAMPTZ",
        "the latest SQS receipt among the partition's inputs: a watermark, the same on every "
        "rebuild (decisions §5)",
    ),
)

FACT_EVENT_ITEMS = _cols(
    ("event_item_id", "VARCHAR", "primary key, = silver_items.item_record_id"),
    ("event_id", "VARCHAR", "the event (fact_events) the item row belongs to"),
    ("event_date", "DATE", "the event's date: the partition"),
    ("event_timestamp", "TIMESTAMPTZ", "the event's time (UTC)"),
    ("user_id", "VARCHAR", "the event's user"),
    ("session_id", "VARCHAR", "the event's session"),
    ("event_name", "VARCHAR", "the event's name"),
    ("item_id", "VARCHAR", "product SKU"),
    ("item_name", "VARCHAR", "product name as sent with this event"),
    ("item_brand", "VARCHAR", "brand as sent with this event"),
    ("item_category", "VARCHAR", "category as sent with this event"),
    ("price", MONEY, "unit price after discount"),
    ("quantity", "INTEGER", "quantity; 1 when absent"),
    ("total_price", MONEY, "price x quantity"),
    ("discount_amount", MONEY, "discount x quantity"),
    ("has_discount", "BOOLEAN", "discount_amount > 0, or any promotion code"),
    ("in_stock", "BOOLEAN", "whether the item was in stock; NULL when not sent"),
    ("item_list_id", "VARCHAR", "list id after the event-level fallback"),
    ("item_list_name", "VARCHAR", "list name after the event-level fallback"),
    ("position_in_list", "INTEGER", "the item's index in its list, as the app sent it"),
    (
        "attributed_item_list_name",
        "VARCHAR",
        "the list credited with this row by the attribution rule; (not set) for none",
    ),
    ("attribution_source", "VARCHAR", "how the list was found: explicit, last_click or none"),
)

DIM_ITEMS = _cols(
    ("item_sk", "VARCHAR", "surrogate key of the version"),
    ("item_id", "VARCHAR", "product SKU"),
    ("item_name", "VARCHAR", "name in this version"),
    ("item_brand", "VARCHAR", "brand in this version"),
    ("item_category", "VARCHAR", "category in this version"),
    ("valid_from", "TIMESTAMPTZ", "first event_timestamp of the version"),
    ("valid_to", "TIMESTAMPTZ", "the next version's valid_from; NULL for the current version"),
    ("is_current", "BOOLEAN", "true for the item's current version"),
    ("first_seen_at", "TIMESTAMPTZ", "first event time in the version"),
    ("last_seen_at", "TIMESTAMPTZ", "last event time in the version"),
    ("last_price", MONEY, "latest non-NULL price in the version"),
)

DIM_USERS = _cols(
    ("user_sk", "VARCHAR", "surrogate key"),
    ("user_id", "VARCHAR", "the signed-in user"),
    ("first_seen_at", "TIMESTAMPTZ", "the user's first event_timestamp"),
    ("last_seen_at", "TIMESTAMPTZ", "the user's last event_timestamp"),
    ("first_platform", "VARCHAR", "platform of the first event by (event_timestamp, event_id)"),
    ("last_platform", "VARCHAR", "platform of the last event by (event_timestamp, event_id)"),
    ("total_sessions", "BIGINT", "the user's sessions"),
    ("total_events", "BIGINT", "the user's events"),
    ("total_purchases", "BIGINT", "the user's purchase events"),
    (
        "total_revenue",
        MONEY,
        "sum of total_price of the user's purchase item rows; refunds are not subtracted",
    ),
)

MART_ITEM_LIST_DAILY = _cols(
    ("event_date", "DATE", "the day: the partition"),
    ("item_list_name", "VARCHAR", "the list L; (not set) for none"),
    ("list_view_events", "BIGINT", "view_item_list events of L"),
    ("list_viewers", "BIGINT", "users with view_item_list events of L"),
    ("item_impressions", "BIGINT", "item rows of those view_item_list events whose list is L"),
    ("list_click_events", "BIGINT", "select_item events of L"),
    ("list_clickers", "BIGINT", "users with select_item events of L"),
    ("items_clicked", "BIGINT", "sum of qty of those select_item events' item rows of L"),
    (
        "click_through_rate",
        "DOUBLE",
        "list_clickers / list_viewers (GA4's user-based item list CTR)",
    ),
    ("item_click_rate", "DOUBLE", "items_clicked / item_impressions"),
    ("attributed_add_to_cart_items", "BIGINT", "sum of qty of add_to_cart rows attributed to L"),
    ("attributed_checkout_items", "BIGINT", "sum of qty of begin_checkout rows attributed to L"),
    ("attributed_purchased_items", "BIGINT", "sum of qty of purchase rows attributed to L"),
    ("attributed_revenue", MONEY, "sum of total_price of purchase rows attributed to L"),
    ("attributed_purchasers", "BIGINT", "users with purchase rows attributed to L"),
)

MART_PRODUCT_DAILY_METRICS = _cols(
    ("event_date", "DATE", "the day: the partition"),
    ("item_id", "VARCHAR", "product SKU"),
    ("impressions", "BIGINT", "view_item_list item rows of the product"),
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
    ("event_date", "DATE", "the day: the partition"),
    ("item_list_name", "VARCHAR", "the list; (not set) for none"),
    ("position_in_list", "INTEGER", "the position in the list, as the app sent it"),
    ("item_impressions", "BIGINT", "view_item_list item rows of the list at that position"),
    ("item_clicks", "BIGINT", "sum of qty of select_item item rows of the list at that position"),
    ("item_click_rate", "DOUBLE", "item_clicks / item_impressions"),
)

# The product metrics under the item's current name, brand and category.
MART_PRODUCT_DAILY = (
    *_pick(MART_PRODUCT_DAILY_METRICS, "event_date", "item_id"),
    *_cols(
        ("item_name", "VARCHAR", "the product's current name (dim_items)"),
        ("item_brand", "VARCHAR", "the product's current brand (dim_items)"),
        ("item_category", "VARCHAR", "the product's current category (dim_items)"),
    ),
    *MART_PRODUCT_DAILY_METRICS[2:],
)

MASTER_LIST_ITEMS_ENGAGEMENT = (
    *_pick(
        FACT_EVENT_ITEMS,
        "event_item_id",
        "event_id",
        "item_id",
        "item_name",
        "item_list_name",
        "item_list_id",
        "item_category",
        "item_brand",
        "price",
        "total_price",
        "quantity",
        "position_in_list",
        "has_discount",
        "discount_amount",
        "in_stock",
    ),
    *_pick(FACT_EVENTS, "event_timestamp", "user_id", "session_id", "event_date", "event_hour"),
    Column("processed_at_fact_events", "TIMESTAMPTZ", "processed_at of the event in fact_events"),
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
            description=(
                "One row per routable event (its time is present, valid and in range: "
                "docs/events.md, Validity), valid or not, in the partition of its event_date. "
                "A message delivered more than once appears once; everything that cannot be "
                "routed is in quarantine. The message bodies are also kept byte for byte in the "
                "append-only landing archive, so any partition can be rebuilt without the queue."
            ),
        ),
        # One folder for both sources: ingest/received_date=*/ and silver/event_date=*/.
        Table(
            "quarantine",
            "quarantine",
            QUARANTINE,
            "bronze",
            parts_view="quarantine_parts",
            description=(
                "Every message or event that broke the contract, once, with its reason "
                "(docs/events.md, Quarantine). Stage ingest: a body, or an event without a "
                "usable time, still byte-exact in the landing archive. Stage silver: a routable "
                "event that broke another rule, still in bronze."
            ),
        ),
        Table(
            "silver_events",
            "silver/silver_events",
            SILVER_EVENTS,
            "silver",
            partitioned=True,
            description=(
                "One row per valid event, duplicates removed (docs/events.md, Duplicates), in "
                "the partition of its event_date, with its params promoted to columns. Its "
                "items are in silver_items."
            ),
        ),
        Table(
            "silver_items",
            "silver/silver_items",
            SILVER_ITEMS,
            "silver",
            partitioned=True,
            description="One row per item of a silver_events row, in its event's partition.",
        ),
        Table(
            "fact_events",
            "gold/fact_events",
            FACT_EVENTS,
            "gold",
            partitioned=True,
            description=(
                "One row per silver_events row, with its session.\n\n"
                "Sessions: per user_id, events in (event_timestamp, event_id) order. An event "
                "starts a new session when it is the user's first event or comes more than 30 "
                "minutes (SESSION_GAP_SECONDS) after the user's previous one. Sessions continue "
                "across midnight and across partitions, and the same events always give the "
                "same session_id. A partition looks back one day for a session's start, so a "
                "session active for more than 24 hours may be split; nothing else splits or "
                "merges sessions."
            ),
        ),
        Table(
            "fact_event_items",
            "gold/fact_event_items",
            FACT_EVENT_ITEMS,
            "gold",
            partitioned=True,
            description=(
                "One row per silver_items row, with its event's context and the list credited "
                "with it.\n\n"
                "List attribution, for the item rows of add_to_cart, begin_checkout and "
                "purchase:\n\n"
                "1. the row's own item_list_name (after the event-level fallback), if any: "
                "explicit;\n"
                "2. else the item_list_name of the same user's latest select_item row for the "
                "same item_id with a list name, at or before this event's time (a click at the "
                "same instant counts) and at most 7 days (ATTRIBUTION_WINDOW_HOURS) before it, "
                "latest by (event_timestamp, event_id): last_click;\n"
                "3. else (not set): none.\n\n"
                "Other events are credited to their own item_list_name (explicit), or to "
                "(not set) (none) when they have none. A conversion counts on its own event_date."
            ),
        ),
        Table(
            "dim_items",
            "gold/dim_items",
            DIM_ITEMS,
            "gold",
            description=(
                "One row per version of a product: SCD type 2 over (item_name, item_brand, "
                "item_category), rebuilt whole from every partition. An item's versions are the "
                "maximal runs of identical attribute triples among all its item rows (any event "
                "name) in (event_timestamp, event_id) order: event time, not arrival. So A, B, A "
                "gives three versions, a late row that matches the version valid at its time "
                "adds nothing, and NULL equals NULL (a brand missing twice is not a change)."
            ),
        ),
        Table(
            "dim_users",
            "gold/dim_users",
            DIM_USERS,
            "gold",
            description="One row per user, rebuilt whole from every partition.",
        ),
        Table(
            "mart_item_list_daily",
            "gold/mart_item_list_daily",
            MART_ITEM_LIST_DAILY,
            "marts",
            partitioned=True,
            description=(
                "One row per event_date and item list L with at least one event row that feeds "
                "a metric: which lists drive engagement (GA4's definitions).\n\n"
                "qty is an item row's quantity, and a user a distinct user_id. The lists of an "
                "event are the item_list_names of its item rows (after the fallback), or its "
                "event-level item_list_name when it has no items; the events of L are those "
                "whose lists include L, and their item rows of L those whose own list is L. A "
                "NULL or empty list name, and a conversion attributed to no list, count as "
                "(not set). Conversions are attributed as fact_event_items says."
            ),
        ),
        Table(
            "mart_product_daily_metrics",
            "gold/mart_product_daily_metrics",
            MART_PRODUCT_DAILY_METRICS,
            "marts",
            partitioned=True,
            description=(
                "One row per event_date and item_id with at least one item row that feeds a "
                "metric: the product funnel, stored without names (qty and users as in "
                "mart_item_list_daily). Read it as mart_product_daily, which adds the current "
                "names."
            ),
        ),
        Table(
            "mart_list_position_daily",
            "gold/mart_list_position_daily",
            MART_LIST_POSITION_DAILY,
            "marts",
            partitioned=True,
            description=(
                "One row per event_date, item list and position_in_list with at least one item "
                "row (rows without a position are left out; lists as in mart_item_list_daily), "
                "so lists are compared position for position.\n\n"
                "Clicks over expected, a dashboard measure over a date range rather than a "
                "column: for a list L, the sum of its item_clicks over the sum, over positions "
                "p, of its item_impressions at p times R_p, the item click rate at p over all "
                "lists in the range. Above 1, L earns more clicks than the positions of its "
                "items predict; NULL when the denominator is 0."
            ),
        ),
        Table(
            "mart_product_daily",
            None,
            MART_PRODUCT_DAILY,
            "views",
            description=(
                "mart_product_daily_metrics with each product's current item_name, item_brand "
                "and item_category from dim_items, joined when queried, so a rename shows on "
                "every date: which products perform best."
            ),
        ),
        Table(
            "master_list_items_engagement",
            None,
            MASTER_LIST_ITEMS_ENGAGEMENT,
            "views",
            description=(
                "Every item row shown or acted on in a named list (fact_event_items whose own "
                "item_list_name is not NULL), with its event's context from fact_events."
            ),
        ),
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
