"""The dashboard's SQL: plain functions (analytics.duckdb path, filters) -> polars DataFrame.

Each call opens its own short read-only connection and closes it, so the dashboard never holds
the file between reruns and never blocks the pipeline. Over a date range the list and product
leaderboards run the marts' own SQL (sql/marts/) on the facts of the whole range, so users are
distinct over the range (never a sum of daily counts) and every rate is recomputed from the
range totals, with the same definitions as the daily marts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from nelo_assets.serving.dashboard.stats import same_as_next, wilson_interval
from nelo_assets.serving.reader import connect_analytics
from nelo_assets.storage.sql_models import model_sql
from nelo_assets.storage.tables import select_list

# The pipeline replaces the file rather than writing it; another tool may hold the write lock.
LOCK_WAIT_SECONDS = 15.0
# A query that read a partition file while the pipeline replaced it is run again.
READ_ATTEMPTS = 3


@dataclass(frozen=True)
class Filters:
    """What the user picked; an empty tuple means "all"."""

    start: date
    end: date
    lists: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    # A partial last day (today): only events up to this instant count. Its local time of day
    # cuts the previous period's last day too, so a comparison sees the same hours on both sides.
    until: datetime | None = None

    def params(self, per_day: bool = False) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "lists": list(self.lists) or None,
            "categories": list(self.categories) or None,
            "platforms": list(self.platforms) or None,
            "per_day": per_day,
            "until": self.until,
        }

    def previous(self) -> Filters:
        """The period of the same length just before this one, with the same choices; a partial
        last day is cut at the same local time of day."""
        length = timedelta(days=(self.end - self.start).days + 1)
        end = self.start - timedelta(days=1)
        until = None
        if self.until is not None:
            until = datetime.combine(end, self.until.timetz())  # same zone, that day's offset
        return replace(self, start=self.start - length, end=end, until=until)


@dataclass(frozen=True)
class FilterOptions:
    first_date: date
    last_date: date
    lists: tuple[str, ...]
    categories: tuple[str, ...]
    platforms: tuple[str, ...]


def default_range(options: FilterOptions, today: date, days: int) -> tuple[date, date]:
    """The last `days` complete days of data: ending yesterday (in the business time zone) or
    at the last day with data if that is earlier; today only when it is the only day there is."""
    end = min(options.last_date, today - timedelta(days=1))
    if end < options.first_date:
        end = min(options.last_date, today)
    return max(options.first_date, end - timedelta(days=days - 1)), end


def _is_lock_error(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


@contextmanager
def read_only(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried while a pipeline step holds the write lock."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            con = connect_analytics(db_path)
            break
        except duckdb.Error as exc:
            if not _is_lock_error(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        yield con
    finally:
        con.close()


def _is_transient(exc: duckdb.Error) -> bool:
    """A failure the next attempt can avoid: the pipeline replaced a Parquet file while this
    query read it (seen as a Parquet decoding error). Mistakes in the SQL are not retried, nor
    a write lock that read_only already waited out."""
    mistakes = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)
    return not isinstance(exc, mistakes) and not _is_lock_error(exc)


def _frame(db_path: Path, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    # DuckDB refuses named parameters the statement does not use; each query uses a subset.
    used = {name: value for name, value in (params or {}).items() if f"${name}" in sql}
    attempt = 1
    while True:
        try:
            with read_only(db_path) as con:
                return con.sql(sql, params=used).pl()
        except duckdb.Error as exc:
            if attempt == READ_ATTEMPTS or not _is_transient(exc):
                raise
        time.sleep(0.1 * attempt)  # a file replace is a rename: it is over by now
        attempt += 1


# The facts the filters keep (up to the cutoff of a partial last day). Item rows keep the platform of their event and the category of
# the item's current version (as the product leaderboard shows it); with a category filter an
# event stays only if one of its item rows does. Over a range every row gets the same
# event_date ($start), so the marts' SQL, which groups by event_date, aggregates the range.
SCOPED_FACTS = """
with platform_events as (
    select *
    from main.fact_events
    where event_date between $start and $end
        and ($platforms::varchar[] is null or list_contains($platforms::varchar[], platform))
        and ($until::timestamptz is null or event_timestamp <= $until::timestamptz)
),
fact_event_items as (
    select items.* replace (
        case when $per_day then items.event_date else $start::date end as event_date
    )
    from main.fact_event_items as items
    inner join platform_events as events
        on events.event_id = items.event_id and events.event_date = items.event_date
    where $categories::varchar[] is null
        or items.item_id in (
            select item_id
            from main.dim_items
            where is_current and list_contains($categories::varchar[], item_category)
        )
),
fact_events as (
    select events.* replace (
        case when $per_day then events.event_date else $start::date end as event_date
    )
    from platform_events as events
    where $categories::varchar[] is null
        or events.event_id in (select event_id from fact_event_items)
)
"""

LIST_FILTER = "$lists::varchar[] is null or list_contains($lists::varchar[], item_list_name)"


def _mart(table: str) -> str:
    """A mart's own SQL over the scoped facts, cast to the mart's published column types."""
    return f"{SCOPED_FACTS} select {select_list(table)} from ({model_sql(table)}\n)"


def has_data(db_path: Path) -> bool:
    """False until the pipeline has published the views and at least one event."""
    if not db_path.exists():
        return False
    try:
        return _frame(db_path, "select 1 from main.fact_events limit 1").height > 0
    except duckdb.CatalogException:
        return False


def filter_options(db_path: Path) -> FilterOptions:
    """The date span and the values each filter can take."""
    span = _frame(db_path, "select min(event_date) as lo, max(event_date) as hi from fact_events")

    def values(sql: str) -> tuple[str, ...]:
        return tuple(_frame(db_path, sql).to_series().to_list())

    return FilterOptions(
        first_date=span["lo"][0],
        last_date=span["hi"][0],
        lists=values(
            "select distinct item_list_name from mart_item_list_daily order by item_list_name"
        ),
        categories=values(
            "select distinct item_category from dim_items "
            "where is_current and item_category is not null order by item_category"
        ),
        platforms=values("select distinct platform from fact_events order by platform"),
    )


def list_leaderboard(db_path: Path, filters: Filters) -> pl.DataFrame:
    """One row per list over the range, most viewed first."""
    sql = f"""
    select * exclude (event_date)
    from ({_mart("mart_item_list_daily")})
    where {LIST_FILTER}
    order by list_view_events desc, item_list_name
    """
    return _frame(db_path, sql, filters.params())


UNKNOWN_PRODUCT = "(name not loaded yet)"


def product_leaderboard(db_path: Path, filters: Filters) -> pl.DataFrame:
    """One row per product over the range with its current name, highest revenue first.

    The list filter does not apply: a product's funnel is not split by list. A product the item
    dimension does not hold yet (it is built after the marts) is named as such, not left blank.
    """
    sql = f"""
    select
        metrics.item_id,
        coalesce(current_items.item_name, '{UNKNOWN_PRODUCT}') as item_name,
        current_items.item_brand,
        current_items.item_category,
        metrics.* exclude (event_date, item_id)
    from ({_mart("mart_product_daily_metrics")}) as metrics
    left join main.dim_items as current_items
        on current_items.item_id = metrics.item_id and current_items.is_current
    order by metrics.item_revenue desc, metrics.items_purchased desc, metrics.item_id
    """
    return _frame(db_path, sql, filters.params())


def daily_trends(db_path: Path, filters: Filters) -> pl.DataFrame:
    """Per day: list views and clicks, attributed conversions and revenue of the chosen lists.

    Only additive counts are summed across lists (a user seen in two lists would count twice).
    """
    sql = f"""
    select
        event_date,
        sum(list_view_events)::bigint as list_view_events,
        sum(list_click_events)::bigint as list_click_events,
        sum(attributed_add_to_cart_items)::bigint as attributed_add_to_cart_items,
        sum(attributed_purchased_items)::bigint as attributed_purchased_items,
        sum(attributed_revenue)::decimal(18, 2) as attributed_revenue
    from ({_mart("mart_item_list_daily")})
    where {LIST_FILTER}
    group by event_date
    order by event_date
    """
    return _frame(db_path, sql, filters.params(per_day=True))


def platform_split(db_path: Path, filters: Filters) -> pl.DataFrame:
    """Per platform over the range: reach, sessions, list views, purchases and revenue.

    The list filter does not apply: platforms are compared over all of their traffic.
    """
    sql = f"""
    {SCOPED_FACTS},
    purchase_rows as (
        select event_id, sum(total_price) as revenue
        from fact_event_items
        where event_name = 'purchase'
        group by event_id
    )
    select
        platform,
        count(distinct user_id) as users,
        count(distinct session_id) as sessions,
        count(*) as events,
        count(*) filter (where event_name = 'view_item_list') as list_view_events,
        count(*) filter (where event_name = 'purchase') as purchase_events,
        count(distinct user_id) filter (where event_name = 'purchase') as purchasers,
        coalesce(sum(purchase_rows.revenue), 0)::decimal(18, 2) as revenue,
        count(distinct user_id) filter (where event_name = 'purchase')::double
            / nullif(count(distinct user_id), 0) as purchaser_rate
    from fact_events
    left join purchase_rows using (event_id)
    group by platform
    order by users desc, platform
    """
    return _frame(db_path, sql, filters.params())


def newest_received_at(db_path: Path) -> datetime | None:
    """When the newest event behind the page reached the queue (silver's received_at)."""
    return _frame(db_path, "select max(received_at) as newest from silver_events")["newest"][0]


# The position effect reads mart_list_position_daily: it has no category or platform, so only
# the date range and the list filter apply.
POSITIONS = """
with positions as (
    select
        item_list_name,
        position_in_list,
        sum(item_impressions)::bigint as item_impressions,
        sum(item_clicks)::bigint as item_clicks
    from mart_list_position_daily
    where event_date between $start and $end
    group by item_list_name, position_in_list
)
"""


def position_click_rates(db_path: Path, filters: Filters) -> pl.DataFrame:
    """Per chosen list and position over the range: impressions, clicks and item click rate."""
    sql = f"""
    {POSITIONS}
    select *, item_clicks::double / nullif(item_impressions, 0) as item_click_rate
    from positions
    where {LIST_FILTER}
    order by item_list_name, position_in_list
    """
    return _frame(db_path, sql, filters.params())


def clicks_over_expected(db_path: Path, filters: Filters) -> pl.DataFrame:
    """Per chosen list: its item clicks over the clicks its positions predict (docs/tables.md,
    mart_list_position_daily), the expected rate of a position R_p being its click rate over all
    lists in the range."""
    sql = f"""
    {POSITIONS},
    position_rates as (
        select position_in_list, sum(item_clicks)::double / nullif(sum(item_impressions), 0) as r
        from positions
        group by position_in_list
    ),
    per_list as (
        select
            item_list_name,
            sum(item_impressions)::bigint as item_impressions,
            sum(item_clicks)::bigint as item_clicks,
            -- a position never shown in the range has no rate, and no impressions to weigh
            sum(item_impressions * coalesce(r, 0)) as expected_clicks
        from positions
        inner join position_rates using (position_in_list)
        where {LIST_FILTER}
        group by item_list_name
    )
    select *, item_clicks / nullif(expected_clicks, 0) as clicks_over_expected
    from per_list
    order by clicks_over_expected desc nulls last, item_list_name
    """
    return _frame(db_path, sql, filters.params())


def with_change(
    current: pl.DataFrame, previous: pl.DataFrame, key: str, columns: list[str]
) -> pl.DataFrame:
    """`current` with `<column>_change` = current - previous period for each column. A row
    absent from the previous period counts from 0, except a rate (`*_rate`), which has no
    previous value then; an empty previous period gives no change at all (NULL)."""
    if previous.is_empty():
        return current.with_columns(pl.lit(None, pl.Float64).alias(f"{c}_change") for c in columns)

    def before(column: str) -> pl.Expr:
        value = pl.col(f"{column}_previous")
        return value if column.endswith("_rate") else value.fill_null(0)

    renamed = previous.select(key, *(pl.col(c).alias(f"{c}_previous") for c in columns))
    joined = current.join(renamed, on=key, how="left")
    return joined.with_columns(
        (pl.col(c) - before(c)).cast(pl.Float64).alias(f"{c}_change") for c in columns
    ).drop(f"{c}_previous" for c in columns)


def with_intervals(frame: pl.DataFrame, rate: str, successes: str, trials: str) -> pl.DataFrame:
    """`frame` with the 95% Wilson interval of a user-based rate (`<rate>_low`, `<rate>_high`),
    its rank by that rate (`<rate>_rank`, 1 = highest) and `<rate>_same_as_next`: True when the
    rate is not significantly different from the next rank's (two-proportion z-test at 5%).
    A row without a rate (no trials) has no rank and no mark."""
    bounds = [wilson_interval(x, n) for x, n in zip(frame[successes], frame[trials], strict=True)]
    ranked = (
        frame.with_row_index("_row").filter(pl.col(rate).is_not_null()).sort(rate, descending=True)
    )
    marks = same_as_next(ranked[successes].to_list(), ranked[trials].to_list())
    rank = {row: number for number, row in enumerate(ranked["_row"].to_list(), start=1)}
    mark = dict(zip(ranked["_row"].to_list(), marks, strict=True))
    return frame.with_columns(
        pl.Series(f"{rate}_low", [b[0] if b else None for b in bounds], pl.Float64),
        pl.Series(f"{rate}_high", [b[1] if b else None for b in bounds], pl.Float64),
        pl.Series(f"{rate}_rank", [rank.get(i) for i in range(frame.height)], pl.Int64),
        pl.Series(f"{rate}_same_as_next", [mark.get(i) for i in range(frame.height)], pl.Boolean),
    )


# The list funnel: users step by step, and the item counts kept beside it. A user reaches a step
# only with an event at or after the moment they reached the step before, so each step's users
# are among the previous step's and the funnel never widens. Users are distinct over the range,
# from the facts: they cannot be summed from daily counts.

# (column, label) in funnel order: the users who reached each step.
USER_STEPS = (
    ("viewed_users", "1. Viewed the list"),
    ("clicked_users", "2. Clicked an item"),
    ("added_users", "3. Added to cart"),
    ("checked_out_users", "4. Checked out"),
    ("purchased_users", "5. Purchased"),
)
# The item counts of mart_item_list_daily for the same steps: events, then item quantities.
ITEM_STEPS = (
    ("list_view_events", "List views (events)"),
    ("list_click_events", "List clicks (events)"),
    ("attributed_add_to_cart_items", "Added to cart (items)"),
    ("attributed_checkout_items", "Checked out (items)"),
    ("attributed_purchased_items", "Purchased (items)"),
)
ITEMS_NOTE = (
    "Item counts are not a funnel: checkouts and purchases can exceed add-to-carts, because a "
    "buy-now purchase skips the cart and a checkout can hold items added on earlier days."
)


LATER_STEPS = range(2, len(USER_STEPS) + 1)


def _count(step: int, column: str) -> str:
    return f"count(reached_{step}.user_id) as {column}"


def _reached(step: int) -> str:
    """The users of each list who reached `step` after reaching the step before, and when."""
    return f"""
reached_{step} as (
    select step_events.list_name, step_events.user_id, min(step_events.event_timestamp) as at
    from step_events
    inner join reached_{step - 1} as previous
        on previous.list_name = step_events.list_name and previous.user_id = step_events.user_id
    where step_events.step = {step} and step_events.event_timestamp >= previous.at
    group by step_events.list_name, step_events.user_id
)"""


# Steps 1-2 are list events, with list membership as mart_item_list_daily counts it (the lists of
# the item rows, or the event-level list of an event without items); steps 3-5 are item rows
# credited to the list by attribution.
USER_FUNNEL = f"""
{SCOPED_FACTS},
list_events as (
    select event_name, user_id, event_timestamp, item_list_name
    from fact_event_items
    where event_name in ('view_item_list', 'select_item')
    union all
    select event_name, user_id, event_timestamp, item_list_name
    from fact_events
    where event_name in ('view_item_list', 'select_item')
        and not exists (
            select 1 from fact_event_items where fact_event_items.event_id = fact_events.event_id
        )
),
step_events as (
    select
        coalesce(nullif(item_list_name, ''), '(not set)') as list_name,
        user_id,
        event_timestamp,
        case event_name when 'view_item_list' then 1 else 2 end as step
    from list_events
    union all
    select
        coalesce(nullif(attributed_item_list_name, ''), '(not set)') as list_name,
        user_id,
        event_timestamp,
        case event_name when 'add_to_cart' then 3 when 'begin_checkout' then 4 else 5 end as step
    from fact_event_items
    where event_name in ('add_to_cart', 'begin_checkout', 'purchase')
),
reached_1 as (
    select list_name, user_id, min(event_timestamp) as at
    from step_events
    where step = 1
    group by list_name, user_id
),
{",".join(_reached(step) for step in LATER_STEPS)}
select
    list_name as item_list_name,
    {",".join(_count(step, column) for step, (column, _) in enumerate(USER_STEPS, start=1))}
from reached_1
{" ".join(f"left join reached_{step} using (list_name, user_id)" for step in LATER_STEPS)}
group by list_name
"""


def list_user_funnel(db_path: Path, filters: Filters) -> pl.DataFrame:
    """Per chosen list over the range: the users who reached each step, most viewers first."""
    sql = f"""
    select *
    from ({USER_FUNNEL})
    where {LIST_FILTER}
    order by viewed_users desc, item_list_name
    """
    return _frame(db_path, sql, filters.params())


def long_form(frame: pl.DataFrame, steps: tuple[tuple[str, str], ...]) -> pl.DataFrame:
    """One row per list and step (List, Step, Count), for a chart; rows keep the frame's order."""
    return pl.concat(
        frame.select(
            pl.col("item_list_name").alias("List"),
            pl.lit(label).alias("Step"),
            pl.col(column).cast(pl.Int64).alias("Count"),
        )
        for column, label in steps
    )
