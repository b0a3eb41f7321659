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
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

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

    def params(self, per_day: bool = False) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "lists": list(self.lists) or None,
            "categories": list(self.categories) or None,
            "platforms": list(self.platforms) or None,
            "per_day": per_day,
        }


@dataclass(frozen=True)
class FilterOptions:
    first_date: date
    last_date: date
    lists: tuple[str, ...]
    categories: tuple[str, ...]
    platforms: tuple[str, ...]


def _is_lock_error(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


@contextmanager
def read_only(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried while a pipeline step holds the write lock."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(db_path), read_only=True)
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


# The facts the filters keep. Item rows keep the platform of their event and the category of
# the item's current version (as the product leaderboard shows it); with a category filter an
# event stays only if one of its item rows does. Over a range every row gets the same
# event_date ($start), so the marts' SQL, which groups by event_date, aggregates the range.
SCOPED_FACTS = """
with platform_events as (
    select *
    from main.fact_events
    where event_date between $start and $end
        and ($platforms::varchar[] is null or list_contains($platforms::varchar[], platform))
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


def product_leaderboard(db_path: Path, filters: Filters) -> pl.DataFrame:
    """One row per product over the range with its current name, highest revenue first.

    The list filter does not apply: a product's funnel is not split by list.
    """
    sql = f"""
    select
        metrics.item_id,
        current_items.item_name,
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
