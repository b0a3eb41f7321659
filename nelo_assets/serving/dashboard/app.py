"""The Growth team's dashboard: which lists drive engagement, which products convert.

Run: .venv/bin/streamlit run nelo_assets/serving/dashboard/app.py --server.headless true --server.port 8501
It reads $NELO_DATA_DIR/analytics.duckdb read-only, one short connection per query, and caches
results for a short while ($NELO_DASHBOARD_TTL_SECONDS, default 30), so it never blocks the
pipeline and shows new partitions within that time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import streamlit as st

from nelo_assets.serving.dashboard import queries
from nelo_assets.serving.dashboard.queries import FilterOptions, Filters
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake

CACHE_TTL_SECONDS = int(os.environ.get("NELO_DASHBOARD_TTL_SECONDS") or 30)
TOP_PRODUCTS = 25

USERS_NOTE = (
    "Users (viewers, clickers, purchasers) are distinct users over the whole date range, "
    "recomputed from the fact tables: a user active on three days counts once, never three "
    "times. Rates are range totals divided by range totals."
)
FILTERS_NOTE = (
    "Date, category and platform filters apply everywhere. The list filter applies to the "
    "list leaderboard and the daily trends; products and platforms are shown over all lists."
)

LIST_COLUMNS = {
    "item_list_name": "List",
    "list_view_events": "List views",
    "list_viewers": "Viewers",
    "list_clickers": "Clickers",
    "click_through_rate": "Click-through rate",
    "items_clicked": "Items clicked",
    "attributed_add_to_cart_items": "Attributed add-to-carts",
    "attributed_purchased_items": "Attributed purchases",
    "attributed_revenue": "Attributed revenue (MXN)",
    "attributed_purchasers": "Attributed purchasers",
}
PRODUCT_COLUMNS = {
    "item_id": "SKU",
    "item_name": "Product",
    "item_category": "Category",
    "impressions": "Impressions",
    "clicks": "Clicks",
    "items_viewed": "Items viewed",
    "items_added_to_cart": "Added to cart",
    "items_purchased": "Purchased",
    "viewers": "Viewers",
    "cart_adders": "Cart adders",
    "purchasers": "Purchasers",
    "cart_to_view_rate": "Cart-to-view rate",
    "purchase_to_view_rate": "Purchase-to-view rate",
    "item_revenue": "Revenue (MXN)",
}
RATE_COLUMNS = ("Click-through rate", "Cart-to-view rate", "Purchase-to-view rate", "Buyer rate")
MONEY_COLUMNS = ("Attributed revenue (MXN)", "Revenue (MXN)")


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _options(db_path: Path) -> FilterOptions | None:
    return queries.filter_options(db_path) if queries.has_data(db_path) else None


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Querying analytics.duckdb…")
def _query(name: str, db_path: Path, filters: Filters) -> pl.DataFrame:
    query: Callable[[Path, Filters], pl.DataFrame] = getattr(queries, name)
    # Money is DECIMAL in the lake; floats are enough for display and charts.
    return query(db_path, filters).with_columns(pl.col(pl.Decimal).cast(pl.Float64))


def _table(frame: pl.DataFrame, columns: dict[str, str]) -> None:
    shown = frame.select(list(columns)).rename(columns)
    config = {name: st.column_config.NumberColumn(format="percent") for name in RATE_COLUMNS}
    config.update({name: st.column_config.NumberColumn(format="%.2f") for name in MONEY_COLUMNS})
    st.dataframe(shown, hide_index=True, width="stretch", column_config=config)


def _sidebar(options: FilterOptions) -> Filters | None:
    st.sidebar.header("Filters")
    picked = st.sidebar.date_input(
        "Dates",
        value=(options.first_date, options.last_date),
        min_value=options.first_date,
        max_value=options.last_date,
    )
    lists = st.sidebar.multiselect("Lists", options.lists, placeholder="All lists")
    categories = st.sidebar.multiselect(
        "Categories", options.categories, placeholder="All categories"
    )
    platforms = st.sidebar.multiselect("Platforms", options.platforms, placeholder="All platforms")
    st.sidebar.caption(FILTERS_NOTE)
    st.sidebar.caption(USERS_NOTE)
    if not (isinstance(picked, tuple) and len(picked) == 2):
        return None  # the user has picked the first day of a range, not yet the last
    start, end = picked
    return Filters(start, end, tuple(lists), tuple(categories), tuple(platforms))


def _headline(lists: pl.DataFrame, start: date, end: date) -> None:
    top = lists.row(0, named=True)
    st.subheader(f"Most viewed list, {start} to {end}")
    cols = st.columns([2, 1, 1, 1, 1.5])
    cols[0].metric("Top list", top["item_list_name"])
    cols[1].metric("List views", f"{top['list_view_events']:,}")
    cols[2].metric("Viewers", f"{top['list_viewers']:,}")
    ctr = top["click_through_rate"]
    cols[3].metric("Click-through rate", "n/a" if ctr is None else f"{ctr:.1%}")
    cols[4].metric("Attributed revenue (MXN)", f"{top['attributed_revenue']:,.2f}")


def _products_tab(db_path: Path, filters: Filters) -> None:
    products = _query("product_leaderboard", db_path, filters)
    if products.is_empty():
        st.info("No product activity for these filters.")
        return
    st.markdown(f"Top {TOP_PRODUCTS} products by revenue (names as they are now).")
    top = products.head(TOP_PRODUCTS)
    _table(top, PRODUCT_COLUMNS)
    funnel = top.head(10).select(
        pl.col("item_name").alias("Product"),
        pl.col("items_viewed").alias("Viewed"),
        pl.col("items_added_to_cart").alias("Added to cart"),
        pl.col("items_purchased").alias("Purchased"),
    )
    st.bar_chart(funnel, x="Product", stack=False, horizontal=True)


def _trends_tab(db_path: Path, filters: Filters) -> None:
    trends = _query("daily_trends", db_path, filters)
    if trends.is_empty():
        st.info("No list activity for these filters.")
        return
    st.markdown("Daily totals over the chosen lists (counts add up across lists; users do not).")
    st.line_chart(
        trends.select(
            pl.col("event_date").cast(pl.String).alias("Date"),
            pl.col("list_view_events").alias("List views"),
            pl.col("list_click_events").alias("List clicks"),
            pl.col("attributed_add_to_cart_items").alias("Attributed add-to-carts"),
        ),
        x="Date",
    )
    st.bar_chart(
        trends.select(
            pl.col("event_date").cast(pl.String).alias("Date"),
            pl.col("attributed_revenue").alias("Attributed revenue (MXN)"),
        ),
        x="Date",
    )


def _platforms_tab(db_path: Path, filters: Filters) -> None:
    split = _query("platform_split", db_path, filters)
    if split.is_empty():
        st.info("No events for these filters.")
        return
    st.markdown("Users and purchasers are distinct over the range, per platform.")
    _table(
        split,
        {
            "platform": "Platform",
            "users": "Users",
            "sessions": "Sessions",
            "events": "Events",
            "list_view_events": "List views",
            "purchase_events": "Purchases",
            "purchasers": "Purchasers",
            "purchaser_rate": "Buyer rate",
            "revenue": "Revenue (MXN)",
        },
    )
    st.bar_chart(split.select("platform", "revenue"), x="platform", y="revenue")


def main() -> None:
    st.set_page_config(page_title="Nelo Growth", layout="wide")
    st.title("Nelo Growth: lists and products")
    db_path = Lake(Settings.from_env().data_dir).duckdb_path
    try:
        options = _options(db_path)
        if options is None:
            st.info(
                f"No data yet: {db_path} has no events. Start the pipeline (`make demo`); "
                "this page shows the marts as soon as the first partition is published."
            )
            return
        filters = _sidebar(options)
        if filters is None:
            st.info("Pick the last day of the date range.")
            return
        lists = _query("list_leaderboard", db_path, filters)
        if lists.is_empty():
            st.info("No list activity for these filters.")
            return
        _headline(lists, filters.start, filters.end)
        tabs = st.tabs(["List leaderboard", "Product leaderboard", "Daily trends", "Platforms"])
        with tabs[0]:
            st.markdown("Lists ranked by list views; conversions credited by list attribution.")
            _table(lists, LIST_COLUMNS)
        with tabs[1]:
            _products_tab(db_path, filters)
        with tabs[2]:
            _trends_tab(db_path, filters)
        with tabs[3]:
            _platforms_tab(db_path, filters)
    except duckdb.Error as exc:
        st.error(f"analytics.duckdb could not be read: {exc}")


# Streamlit runs this file as __main__; importing it (tests, tooling) must not start the app.
if __name__ == "__main__":
    main()
