"""The Growth team's dashboard: which lists drive engagement, which products convert.

Run: .venv/bin/streamlit run nelo_assets/serving/dashboard/app.py --server.headless true --server.port 8501
It reads $NELO_DATA_DIR/analytics.duckdb read-only, one short connection per query, and caches
results for a short while ($NELO_DASHBOARD_TTL_SECONDS, default 30), so it never blocks the
pipeline and shows new partitions within that time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from nelo_assets.serving.dashboard import charts, queries
from nelo_assets.serving.dashboard.queries import ITEM_STEPS, USER_STEPS, FilterOptions, Filters
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake

CACHE_TTL_SECONDS = int(os.environ.get("NELO_DASHBOARD_TTL_SECONDS") or 30)
TOP_PRODUCTS = 25
CHARTED_PRODUCTS = 10
DEFAULT_DAYS = 14
EMPTY = "—"  # an empty rate or a change with nothing to compare against

USERS_NOTE = (
    "Users (viewers, clickers, purchasers) are distinct users over the whole date range, "
    "recomputed from the fact tables: a user active on three days counts once, never three "
    "times. Rates are range totals divided by range totals."
)
FILTERS_NOTE = (
    "Date, category and platform filters apply everywhere except the position effect (dates "
    "and lists only). The list filter applies to the list leaderboard, the position effect, "
    "the list funnel and the daily trends; products and platforms are shown over all lists."
)
DATES_HELP = (
    "By default the last complete days, ending yesterday in the business time zone. Pick today "
    "as the last day to add it: it is partial, and comparisons then cover the same hours."
)
CHANGE_NOTE = (
    "Changes compare with the previous period of the same length (for {previous}); "
    f"{EMPTY} where that period has no data."
)
PARTIAL_NOTE = (
    " Today, {day}, is partial: it counts events up to {until}, and the previous period's last "
    "day, {previous_day}, is cut at the same time, so both periods cover the same hours."
)
USER_FUNNEL_NOTE = (
    "**Users per list**, distinct over the range: who viewed the list, then clicked one of its "
    "items, then added an item credited to the list to the cart, then checked one out, then "
    "bought one. A user counts at a step only after reaching the step before, so each step is a "
    "subset of the one above and the funnel never widens."
)
INTERVAL_NOTE = (
    "95% intervals (Wilson) on the user-based rates. ≈ #n: this rate is not significantly "
    "different from the next rank's (two-proportion z-test at 5%), so their order may be chance. "
    "Item-based rates (may exceed 1) have no interval."
)
POSITION_NOTE = (
    "How to read it: an item's chance of a click falls with its position, so compare lists "
    "position for position; clicks over expected is a list's clicks divided by the clicks its "
    "item positions would earn at every list's average rate for each position: above 1 the "
    "list's items are clicked more than their positions alone predict, below 1 less."
)
POSITION_FILTERS_NOTE = (
    "Dates and lists apply here; category and platform filters do not "
    "(mart_list_position_daily is per list and position only)."
)

# A leaderboard column: (frame column, label, kind); kinds are formatted by _format.
Spec = list[tuple[str, str, str]]
# Chart axis formats (d3) by column kind.
CHART_FORMATS = {
    "count": ",.0f",
    "count_change": "+,.0f",
    "money": ",.0f",
    "money_change": "+,.0f",
    "rate": ".0%",
    "rate_change": "+.1%",
}
LIST_COLUMNS: Spec = [
    ("item_list_name", "List", "text"),
    ("list_view_events", "List views", "count"),
    ("list_view_events_change", "List views vs previous", "count_change"),
    ("list_viewers", "Viewers", "count"),
    ("list_clickers", "Clickers", "count"),
    ("click_through_rate", "Click-through rate", "rate"),
    ("click_through_rate", "CTR 95% interval", "interval"),
    ("click_through_rate", "CTR rank", "mark"),
    ("click_through_rate_change", "CTR vs previous", "rate_change"),
    ("items_clicked", "Items clicked", "count"),
    ("item_click_rate", "Item click rate", "rate"),
    ("attributed_add_to_cart_items", "Attributed add-to-carts", "count"),
    ("attributed_purchased_items", "Attributed purchases", "count"),
    ("attributed_revenue", "Attributed revenue (MXN)", "money"),
    ("attributed_revenue_change", "Revenue vs previous", "money_change"),
    ("attributed_purchasers", "Attributed purchasers", "count"),
]
LIST_CHANGES = ["list_view_events", "click_through_rate", "attributed_revenue"]
LIST_SORTS = {
    "List views": "list_view_events",
    "Change in list views": "list_view_events_change",
    "Click-through rate": "click_through_rate",
    "Change in click-through rate": "click_through_rate_change",
    "Attributed revenue": "attributed_revenue",
    "Change in attributed revenue": "attributed_revenue_change",
}
PRODUCT_COLUMNS: Spec = [
    ("item_id", "SKU", "text"),
    ("item_name", "Product", "text"),
    ("item_category", "Category", "text"),
    ("impressions", "Impressions", "count"),
    ("clicks", "Clicks", "count"),
    ("items_viewed", "Items viewed", "count"),
    ("items_added_to_cart", "Added to cart", "count"),
    ("items_purchased", "Purchased", "count"),
    ("items_purchased_change", "Purchased vs previous", "count_change"),
    ("viewers", "Viewers", "count"),
    ("cart_adders", "Cart adders", "count"),
    ("purchasers", "Purchasers", "count"),
    ("cart_to_view_rate", "Cart-to-view rate", "rate"),
    ("cart_to_view_rate", "Cart-to-view 95% interval", "interval"),
    ("cart_to_view_rate", "Cart-to-view rank", "mark"),
    ("cart_to_view_rate_change", "Cart-to-view vs previous", "rate_change"),
    ("purchase_to_view_rate", "Purchase-to-view rate", "rate"),
    ("purchase_to_view_rate", "Purchase-to-view 95% interval", "interval"),
    ("purchase_to_view_rate", "Purchase-to-view rank", "mark"),
    ("purchase_to_view_rate_change", "Purchase-to-view vs previous", "rate_change"),
    ("item_revenue", "Revenue (MXN)", "money"),
    ("item_revenue_change", "Revenue vs previous", "money_change"),
]
PRODUCT_CHANGES = ["items_purchased", "item_revenue", "cart_to_view_rate", "purchase_to_view_rate"]
PRODUCT_SORTS = {
    "Revenue": "item_revenue",
    "Change in revenue": "item_revenue_change",
    "Purchased": "items_purchased",
    "Change in purchased": "items_purchased_change",
    "Cart-to-view rate": "cart_to_view_rate",
    "Change in cart-to-view rate": "cart_to_view_rate_change",
    "Purchase-to-view rate": "purchase_to_view_rate",
    "Change in purchase-to-view rate": "purchase_to_view_rate_change",
}


def percent(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.1%}"


def ratio(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.2f}"


def interval(low: float | None, high: float | None) -> str:
    return EMPTY if low is None or high is None else f"{low:.1%} – {high:.1%}"


def change(value: float | None, kind: str) -> str:
    """A change against the previous period: counts and money as signed amounts, rates in
    percentage points."""
    if value is None:
        return EMPTY
    if kind == "rate_change":
        return f"{value * 100:+.1f} pp"
    return f"{value:+,.2f}" if kind == "money_change" else f"{value:+,.0f}"


def _format(row: dict[str, Any], column: str, kind: str) -> Any:
    value = row.get(column)
    if kind == "rate":
        return percent(value)
    if kind == "interval":
        return interval(row[f"{column}_low"], row[f"{column}_high"])
    if kind == "mark":
        rank = row[f"{column}_rank"]
        if rank is None:  # no rate, no rank
            return EMPTY
        return f"#{rank} ≈ #{rank + 1}" if row[f"{column}_same_as_next"] else f"#{rank}"
    if kind.endswith("_change"):
        return change(value, kind)
    return value


def shown(frame: pl.DataFrame, columns: Spec) -> pl.DataFrame:
    """The leaderboard as displayed: rates, intervals and changes as text ("—" when empty)."""
    rows = frame.to_dicts()
    return pl.DataFrame(
        {label: [_format(row, column, kind) for row in rows] for column, label, kind in columns}
    )


# Counts and money stay numbers (the table sorts them as numbers), shown with separators.
NUMBER_FORMATS = {"count": "%,d", "money": "%,.2f"}


def _table(frame: pl.DataFrame, columns: Spec) -> None:
    """A table showing all its rows, numbers with thousands separators."""
    formats = {
        label: st.column_config.NumberColumn(format=NUMBER_FORMATS[kind])
        for _, label, kind in columns
        if kind in NUMBER_FORMATS
    }
    # Product names run to 40 characters: fitted to the first rows, the column cut longer ones.
    formats |= {
        label: st.column_config.TextColumn(width="large")
        for _, label, _ in columns
        if label == "Product"
    }
    st.dataframe(
        shown(frame, columns),
        hide_index=True,
        width="stretch",
        height="content",
        column_config=formats,
    )


def sorted_first(columns: Spec, sorted_by: str) -> Spec:
    """The columns with the sort measure's (its value, change, interval and rank) moved right
    after the names, so the measure a table is sorted by is never off screen."""
    measure = sorted_by.removesuffix("_change")
    moved = [spec for spec in columns if spec[0] in (measure, f"{measure}_change")]
    names = [spec for spec in columns if spec[2] == "text"]
    return [*names, *moved, *(spec for spec in columns if spec not in moved + names)]


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _options(db_path: Path) -> FilterOptions | None:
    return queries.filter_options(db_path) if queries.has_data(db_path) else None


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Querying analytics.duckdb…")
def _query(name: str, db_path: Path, filters: Filters) -> pl.DataFrame:
    query: Callable[[Path, Filters], pl.DataFrame] = getattr(queries, name)
    # Money is DECIMAL in the lake; floats are enough for display and charts.
    return query(db_path, filters).with_columns(pl.col(pl.Decimal).cast(pl.Float64))


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _freshness(db_path: Path) -> str:
    newest = queries.newest_received_at(db_path)
    if newest is None:
        return f"Newest event received: {EMPTY}."
    return f"Newest event received {newest.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC."


def _leaderboard(
    name: str, frame: pl.DataFrame, columns: Spec, sorts: dict[str, str], top: int | None = None
) -> tuple[pl.DataFrame, str]:
    """A sortable leaderboard with its CSV download (the rows shown, unformatted); returns the
    rows in their order and the label of the measure they are sorted by."""
    by = st.selectbox("Sort by", list(sorts), key=f"{name}_sort")
    ordered = frame.sort(sorts[by], descending=True, nulls_last=True)
    if top is not None:
        ordered = ordered.head(top)
    _table(ordered, sorted_first(columns, sorts[by]))
    st.download_button(
        f"Download the {name} leaderboard (CSV)",
        ordered.write_csv(),
        file_name=f"nelo_{name}_leaderboard.csv",
        mime="text/csv",
        key=f"{name}_csv",
    )
    return ordered, by


def _sidebar(options: FilterOptions, now: datetime) -> Filters | None:
    """The filters; a range ending today gets today's cutoff (`now`), as a partial day."""
    st.sidebar.header("Filters")
    today = now.date()
    default = queries.default_range(options, today, DEFAULT_DAYS)
    picked = st.sidebar.date_input(
        "Dates",
        value=default,
        min_value=options.first_date,
        max_value=max(default[1], min(options.last_date, today)),
        help=DATES_HELP,
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
    until = now if end == today else None
    return Filters(start, end, tuple(lists), tuple(categories), tuple(platforms), until)


def partial_label(day: date, filters: Filters) -> str:
    """A day as charts name it; the partial last day says it is partial and up to when."""
    if filters.until is not None and day == filters.end:
        return f"{day} (partial, to {filters.until:%H:%M})"
    return str(day)


def _metric(column: DeltaGenerator, label: str, value: str, delta: str) -> None:
    if delta == EMPTY:  # nothing to compare with: no arrow, no colour
        column.metric(label, value, delta, delta_color="off", delta_arrow="off")
    else:
        column.metric(label, value, delta)


def _headline(lists: pl.DataFrame, filters: Filters) -> None:
    top = lists.row(0, named=True)
    st.subheader(f"Most viewed list, {filters.start} to {partial_label(filters.end, filters)}")
    # Two rows, so that a long list name and the interval are never cut at 1400 px.
    reach, rates = st.columns([2, 1, 1]), st.columns([1, 1.3, 1.3])
    reach[0].metric("Top list", top["item_list_name"])
    _metric(
        reach[1],
        "List views",
        f"{top['list_view_events']:,}",
        change(top["list_view_events_change"], "count_change"),
    )
    _metric(
        reach[2],
        "Viewers",
        f"{top['list_viewers']:,}",
        change(top["list_viewers_change"], "count_change"),
    )
    _metric(
        rates[0],
        "Click-through rate",
        percent(top["click_through_rate"]),
        change(top["click_through_rate_change"], "rate_change"),
    )
    rates[1].metric(
        "CTR 95% interval",
        interval(top["click_through_rate_low"], top["click_through_rate_high"]),
    )
    _metric(
        rates[2],
        "Attributed revenue (MXN)",
        f"{top['attributed_revenue']:,.2f}",
        change(top["attributed_revenue_change"], "money_change"),
    )
    previous = filters.previous()
    note = CHANGE_NOTE.format(previous=f"{previous.start} to {previous.end}")
    if filters.until is not None:
        note += PARTIAL_NOTE.format(
            day=filters.end, until=f"{filters.until:%H:%M %Z}", previous_day=previous.end
        )
    st.caption(note)


def _list_board(db_path: Path, filters: Filters) -> pl.DataFrame:
    """The list leaderboard with its changes and the interval of its click-through rate."""
    lists = _query("list_leaderboard", db_path, filters)
    before = _query("list_leaderboard", db_path, filters.previous())
    changed = queries.with_change(lists, before, "item_list_name", [*LIST_CHANGES, "list_viewers"])
    board = queries.with_intervals(changed, "click_through_rate", "list_clickers", "list_viewers")
    return board.sort(["list_view_events", "item_list_name"], descending=[True, False])


def _positions_tab(db_path: Path, filters: Filters) -> None:
    rates = _query("position_click_rates", db_path, filters)
    if rates.is_empty():
        st.info("No list positions for these filters.")
        return
    st.markdown(POSITION_NOTE)
    st.caption(POSITION_FILTERS_NOTE)
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Item click rate by position** (0 = the first item shown)")
        chart = charts.lines_by(
            rates.filter(pl.col("item_click_rate").is_not_null()).select(
                pl.col("position_in_list").alias("Position"),
                pl.col("item_click_rate").alias("Item click rate"),
                pl.col("item_list_name").alias("List"),
            ),
            x="Position",
            y="Item click rate",
            color="List",
            y_format=".0%",
        )
        st.altair_chart(chart, width="stretch")
        with st.expander("The numbers behind the chart"):
            st.table(
                rates.select(
                    pl.col("item_list_name").alias("List"),
                    pl.col("position_in_list").alias("Position"),
                    pl.col("item_impressions").alias("Impressions"),
                    pl.col("item_clicks").alias("Clicks"),
                    pl.col("item_click_rate").map_elements(percent, pl.String).alias("Click rate"),
                )
            )
    with right:
        expected = _query("clicks_over_expected", db_path, filters)
        st.markdown("**Clicks over expected**")
        st.table(
            expected.select(
                pl.col("item_list_name").alias("List"),
                pl.col("item_clicks").alias("Item clicks"),
                pl.col("expected_clicks").map_elements(ratio, pl.String).alias("Expected"),
                pl.col("clicks_over_expected")
                .map_elements(ratio, pl.String)
                .alias("Clicks over expected"),
            )
        )


USER_COLUMNS: Spec = [
    ("item_list_name", "List", "text"),
    *((column, label, "count") for column, label in USER_STEPS),
    ("purchased_share", "Viewers who purchased", "rate"),
]
ITEM_COLUMNS: Spec = [
    ("item_list_name", "List", "text"),
    *((column, label, "count") for column, label in ITEM_STEPS),
]


def _funnel_tab(db_path: Path, filters: Filters, lists: pl.DataFrame) -> None:
    users = _query("list_user_funnel", db_path, filters)
    st.markdown(USER_FUNNEL_NOTE)
    steps = queries.long_form(users, USER_STEPS)
    st.altair_chart(charts.grouped_bars(steps, "List", "Step", "Count", "Users"), width="stretch")
    share = pl.col("purchased_users") / pl.when(pl.col("viewed_users") > 0).then("viewed_users")
    _table(users.with_columns(share.alias("purchased_share")), USER_COLUMNS)
    st.markdown(
        "**Item counts per list**: list views and clicks count events; add-to-carts, checkouts "
        "and purchases count items (quantities) credited to the list by attribution."
    )
    st.caption(queries.ITEMS_NOTE)
    _table(lists, ITEM_COLUMNS)


def _products_tab(db_path: Path, filters: Filters) -> None:
    products = _query("product_leaderboard", db_path, filters)
    if products.is_empty():
        st.info("No product activity for these filters.")
        return
    before = _query("product_leaderboard", db_path, filters.previous())
    board = queries.with_change(products, before, "item_id", PRODUCT_CHANGES)
    rates = {"cart_to_view_rate": "cart_adders", "purchase_to_view_rate": "purchasers"}
    for rate, successes in rates.items():
        board = queries.with_intervals(board, rate, successes, "viewers")
    st.markdown(f"Top {TOP_PRODUCTS} products (names as they are now). {INTERVAL_NOTE}")
    ordered, by = _leaderboard("product", board, PRODUCT_COLUMNS, PRODUCT_SORTS, top=TOP_PRODUCTS)
    st.markdown(f"**{by}**, the top {CHARTED_PRODUCTS} in the table's order")
    column = PRODUCT_SORTS[by]
    kind = next(kind for name, _, kind in PRODUCT_COLUMNS if name == column)
    charted = ordered.head(CHARTED_PRODUCTS).select(
        pl.format("{} ({})", "item_name", "item_id").alias("Product"),
        pl.col(column).alias(by),
    )
    st.altair_chart(
        charts.ranked_bars(charted, "Product", by, CHART_FORMATS[kind]), width="stretch"
    )


def _trends_tab(db_path: Path, filters: Filters) -> None:
    trends = _query("daily_trends", db_path, filters)
    if trends.is_empty():
        st.info("No list activity for these filters.")
        return
    st.markdown("Daily totals over the chosen lists (counts add up across lists; users do not).")
    days = trends.with_columns(
        pl.col("event_date")
        .map_elements(lambda day: partial_label(day, filters), pl.String)
        .alias("Day")
    )
    partial = partial_label(filters.end, filters) if filters.until is not None else None
    if partial is not None:
        st.caption(f"The last day, {partial}, is not over: its dashed line and faded bar say so.")
    lines = days.select(
        "Day",
        pl.col("list_view_events").alias("List views"),
        pl.col("list_click_events").alias("List clicks"),
        pl.col("attributed_add_to_cart_items").alias("Attributed add-to-carts"),
    )
    st.altair_chart(charts.daily_lines(lines, lines.columns[1:], partial), width="stretch")
    revenue = days.select("Day", pl.col("attributed_revenue").alias("Attributed revenue (MXN)"))
    st.altair_chart(
        charts.daily_bars(revenue, "Attributed revenue (MXN)", partial), width="stretch"
    )


def _platforms_tab(db_path: Path, filters: Filters) -> None:
    split = _query("platform_split", db_path, filters)
    if split.is_empty():
        st.info("No events for these filters.")
        return
    st.markdown("Users and purchasers are distinct over the range, per platform.")
    columns: Spec = [
        ("platform", "Platform", "text"),
        ("users", "Users", "count"),
        ("sessions", "Sessions", "count"),
        ("events", "Events", "count"),
        ("list_view_events", "List views", "count"),
        ("purchase_events", "Purchases", "count"),
        ("purchasers", "Purchasers", "count"),
        ("purchaser_rate", "Buyer rate", "rate"),
        ("revenue", "Revenue (MXN)", "money"),
    ]
    _table(split, columns)
    st.altair_chart(charts.ranked_bars(split, "platform", "revenue"), width="stretch")


def main() -> None:
    st.set_page_config(page_title="Nelo Growth", layout="wide")
    st.title("Nelo Growth: lists and products")
    settings = Settings.from_env()
    db_path = Lake(settings.data_dir).duckdb_path
    try:
        options = _options(db_path)
        if options is None:
            st.info(
                f"No data yet: {db_path} has no events. Start the pipeline (`make demo`); "
                "this page shows the marts as soon as the first partition is published."
            )
            return
        st.caption(
            f"{_freshness(db_path)} Data from {options.first_date} to {options.last_date}; "
            f"queries refresh every {CACHE_TTL_SECONDS} s."
        )
        # Today in the business time zone, to the minute: a partial day's cutoff, and a cache
        # key that changes once a minute rather than on every rerun.
        now = datetime.now(settings.tz).replace(second=0, microsecond=0)
        filters = _sidebar(options, now)
        if filters is None:
            st.info("Pick the last day of the date range.")
            return
        lists = _list_board(db_path, filters)
        if lists.is_empty():
            st.info("No list activity for these filters.")
            return
        _headline(lists, filters)
        tabs = st.tabs(
            [
                "List leaderboard",
                "Position effect",
                "List funnel",
                "Product leaderboard",
                "Daily trends",
                "Platforms",
            ]
        )
        with tabs[0]:
            st.markdown(
                "Lists over the range; conversions credited by list attribution. " + INTERVAL_NOTE
            )
            _leaderboard("list", lists, LIST_COLUMNS, LIST_SORTS)
        with tabs[1]:
            _positions_tab(db_path, filters)
        with tabs[2]:
            _funnel_tab(db_path, filters, lists)
        with tabs[3]:
            _products_tab(db_path, filters)
        with tabs[4]:
            _trends_tab(db_path, filters)
        with tabs[5]:
            _platforms_tab(db_path, filters)
    except duckdb.Error as exc:
        st.error(f"analytics.duckdb could not be read: {exc}")


# Streamlit runs this file as __main__; importing it (tests, tooling) must not start the app.
if __name__ == "__main__":
    main()
