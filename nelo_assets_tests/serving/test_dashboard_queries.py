"""Dashboard queries against a simulated lake: every number equals an independent SQL aggregate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from nelo_assets.serving.analytics import publish_views
from nelo_assets.serving.dashboard import queries
from nelo_assets.serving.dashboard.queries import Filters
from nelo_assets.serving.dashboard.sample import Sample, build_sample_lake
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake

SAMPLE = Sample()
LIST_NAME = "coalesce(nullif({}, ''), '(not set)')"


@pytest.fixture(scope="session")
def db(dashboard_sample: Lake) -> Path:
    return dashboard_sample.duckdb_path


def sql(db: Path, query: str, params: list[Any] | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query, params or []).fetchall()


def by_key(frame: Any, key: str, column: str) -> dict[Any, Any]:
    return dict(zip(frame[key].to_list(), frame[column].to_list(), strict=True))


def everything(**chosen: tuple[str, ...]) -> Filters:
    """The whole sample, narrowed by the given list, category or platform filters."""
    return Filters(SAMPLE.dates[0], SAMPLE.dates[-1], **chosen)


def test_list_counts_over_a_range_are_the_sums_of_the_daily_mart(db: Path) -> None:
    board = queries.list_leaderboard(db, everything())
    additive = [
        "list_view_events",
        "item_impressions",
        "list_click_events",
        "items_clicked",
        "attributed_add_to_cart_items",
        "attributed_checkout_items",
        "attributed_purchased_items",
        "attributed_revenue",
    ]
    sums = sql(
        db,
        f"select item_list_name, {', '.join(f'sum({c})' for c in additive)} "
        "from mart_item_list_daily group by item_list_name",
    )
    assert len(sums) >= 3, "the sample should have several lists"
    assert sorted(board["item_list_name"].to_list()) == sorted(row[0] for row in sums)
    for row in sums:
        shown = board.filter(board["item_list_name"] == row[0]).row(0, named=True)
        assert [shown[c] for c in additive] == list(row[1:]), row[0]
    views = board["list_view_events"].to_list()
    assert views == sorted(views, reverse=True), "most viewed list first"


def test_list_users_are_distinct_over_the_range_not_summed(db: Path) -> None:
    board = queries.list_leaderboard(db, everything())
    # Events of a list: their item rows' lists, or the event-level list when there are none.
    viewers = dict(
        sql(
            db,
            f"""
            select list_name, count(distinct user_id) from (
                select {LIST_NAME.format("item_list_name")} as list_name, user_id
                from fact_event_items where event_name = 'view_item_list'
                union all
                select {LIST_NAME.format("item_list_name")}, user_id
                from fact_events
                where event_name = 'view_item_list'
                    and event_id not in (select event_id from fact_event_items)
            ) group by list_name
            """,
        )
    )
    purchasers = dict(
        sql(
            db,
            f"select {LIST_NAME.format('attributed_item_list_name')}, count(distinct user_id) "
            "from fact_event_items where event_name = 'purchase' group by 1",
        )
    )
    shown_viewers = by_key(board, "item_list_name", "list_viewers")
    assert {k: v for k, v in shown_viewers.items() if v} == viewers
    assert {
        k: v for k, v in by_key(board, "item_list_name", "attributed_purchasers").items() if v
    } == purchasers

    daily_sum = dict(
        sql(db, "select item_list_name, sum(list_viewers) from mart_item_list_daily group by 1")
    )
    top = board.row(0, named=True)
    assert top["list_viewers"] < daily_sum[top["item_list_name"]], "returning users count once"
    for row in board.iter_rows(named=True):
        if row["list_viewers"]:
            assert row["click_through_rate"] == pytest.approx(
                row["list_clickers"] / row["list_viewers"]
            )
        else:
            assert row["click_through_rate"] is None


def test_one_day_reproduces_the_daily_marts_exactly(db: Path) -> None:
    day = SAMPLE.dates[1]
    one_day = Filters(day, day)
    board = queries.list_leaderboard(db, one_day)
    with duckdb.connect(str(db), read_only=True) as con:
        mart = con.sql(
            "select * exclude (event_date) from mart_item_list_daily where event_date = ?",
            params=[day],
        ).pl()
        products = con.sql(
            "select * exclude (event_date) from mart_product_daily where event_date = ?",
            params=[day],
        ).pl()
    assert (
        board.sort("item_list_name").to_dicts()
        == mart.select(board.columns).sort("item_list_name").to_dicts()
    )
    shown = queries.product_leaderboard(db, one_day)
    assert (
        shown.sort("item_id").to_dicts()
        == products.select(shown.columns).sort("item_id").to_dicts()
    )


def test_product_leaderboard_matches_the_facts(db: Path) -> None:
    board = queries.product_leaderboard(db, everything())
    rows = sql(
        db,
        """
        select item_id,
            sum(coalesce(quantity, 1)) filter (where event_name = 'purchase'),
            sum(total_price) filter (where event_name = 'purchase'),
            count(distinct user_id) filter (where event_name = 'view_item'),
            count(distinct user_id) filter (where event_name = 'add_to_cart')
        from fact_event_items
        where event_name in ('view_item_list', 'select_item', 'view_item', 'add_to_cart',
                             'begin_checkout', 'purchase')
        group by item_id
        """,
    )
    assert board.height == len(rows)
    shown = {row["item_id"]: row for row in board.iter_rows(named=True)}
    for item_id, purchased, revenue, viewers, adders in rows:
        row = shown[item_id]
        assert row["items_purchased"] == (purchased or 0)
        assert row["item_revenue"] == (revenue or Decimal("0.00"))
        assert (row["viewers"], row["cart_adders"]) == (viewers, adders)
        expected_rate = adders / viewers if viewers else None
        assert row["cart_to_view_rate"] == pytest.approx(expected_rate)
    revenue = board["item_revenue"].to_list()
    assert revenue == sorted(revenue, reverse=True), "highest revenue first"
    names = dict(sql(db, "select item_id, item_name from dim_items where is_current"))
    assert all(row["item_name"] == names[row["item_id"]] for row in shown.values())


def test_date_filter_keeps_only_the_chosen_days(db: Path) -> None:
    first, second = SAMPLE.dates[1], SAMPLE.dates[2]
    board = queries.list_leaderboard(db, Filters(first, second))
    expected = dict(
        sql(
            db,
            "select item_list_name, sum(list_view_events) from mart_item_list_daily "
            "where event_date between ? and ? group by 1",
            [first, second],
        )
    )
    assert by_key(board, "item_list_name", "list_view_events") == expected
    trends = queries.daily_trends(db, Filters(first, second))
    assert trends["event_date"].to_list() == [first, second]


def test_platform_filter_counts_only_that_platforms_events(db: Path) -> None:
    platform = "IOS"
    board = queries.list_leaderboard(db, everything(platforms=(platform,)))
    expected = dict(
        sql(
            db,
            f"""
            select {LIST_NAME.format("items.item_list_name")}, count(distinct items.event_id)
            from fact_event_items as items
            join fact_events as events using (event_id, event_date)
            where items.event_name = 'view_item_list' and events.platform = ?
            group by 1
            """,
            [platform],
        )
    )
    shown = {k: v for k, v in by_key(board, "item_list_name", "list_view_events").items() if v}
    assert shown == expected
    unfiltered = by_key(
        queries.list_leaderboard(db, everything()), "item_list_name", "list_view_events"
    )
    assert all(shown[name] < unfiltered[name] for name in shown)


def test_category_filter_keeps_only_products_of_that_category(db: Path) -> None:
    (category, revenue), *_ = sql(
        db,
        """
        select current_items.item_category, sum(items.total_price)
        from fact_event_items as items
        join dim_items as current_items on current_items.item_id = items.item_id
            and current_items.is_current
        where items.event_name = 'purchase'
        group by 1 order by 2 desc
        """,
    )
    board = queries.product_leaderboard(db, everything(categories=(category,)))
    assert set(board["item_category"].to_list()) == {category}
    assert sum(board["item_revenue"].to_list()) == revenue
    lists = queries.list_leaderboard(db, everything(categories=(category,)))
    all_lists = queries.list_leaderboard(db, everything())
    assert sum(lists["attributed_revenue"].to_list()) == revenue
    assert sum(lists["item_impressions"].to_list()) < sum(all_lists["item_impressions"].to_list())


def test_list_filter_restricts_the_list_sections(db: Path) -> None:
    all_lists = queries.list_leaderboard(db, everything())
    chosen = all_lists["item_list_name"][1]
    filters = everything(lists=(chosen,))
    board = queries.list_leaderboard(db, filters)
    assert board["item_list_name"].to_list() == [chosen]
    assert board.row(0, named=True) == all_lists.row(1, named=True)
    trends = queries.daily_trends(db, filters)
    assert sum(trends["list_view_events"].to_list()) == board["list_view_events"][0]
    assert sum(trends["attributed_revenue"].to_list()) == board["attributed_revenue"][0]


def test_daily_trends_are_the_daily_sums_of_the_mart(db: Path) -> None:
    trends = queries.daily_trends(db, everything())
    expected = sql(
        db,
        "select event_date, sum(list_view_events), sum(list_click_events), "
        "sum(attributed_purchased_items), sum(attributed_revenue) "
        "from mart_item_list_daily group by 1 order by 1",
    )
    shown = trends.select(
        "event_date",
        "list_view_events",
        "list_click_events",
        "attributed_purchased_items",
        "attributed_revenue",
    ).rows()
    assert shown == expected
    assert [row[0] for row in shown] == SAMPLE.dates


def test_platform_split_matches_the_facts(db: Path) -> None:
    split = queries.platform_split(db, everything())
    expected = sql(
        db,
        """
        select events.platform, count(distinct events.user_id), count(*)
        from fact_events as events group by 1
        """,
    )
    assert {(r["platform"], r["users"], r["events"]) for r in split.iter_rows(named=True)} == set(
        expected
    )
    revenue = dict(
        sql(
            db,
            """
            select events.platform, sum(items.total_price)
            from fact_event_items as items
            join fact_events as events using (event_id, event_date)
            where items.event_name = 'purchase' group by 1
            """,
        )
    )
    shown = {k: v for k, v in by_key(split, "platform", "revenue").items() if v}
    assert shown == revenue


def test_no_data_yet_is_an_empty_state_not_an_error(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    assert not queries.has_data(lake.duckdb_path), "no file yet"
    publish_views(lake)
    assert not queries.has_data(lake.duckdb_path), "views over no partitions"
    day = SAMPLE.start
    assert queries.list_leaderboard(lake.duckdb_path, Filters(day, day)).is_empty()
    assert queries.platform_split(lake.duckdb_path, Filters(day, day)).is_empty()


def test_a_reader_waits_out_the_writers_lock(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    publish_views(lake)
    copy = lake.duckdb_path
    # Another process holds the write lock for a moment, as publish_views does.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({str(copy)!r})\n"
            "print('locked', flush=True)\n"
            "time.sleep(1.5)\n"
            "con.close()\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(copy), read_only=True)
        with queries.read_only(copy) as con:
            assert con.execute("select count(*) from nelo_meta").fetchone() == (1,)
    finally:
        assert holder.wait(timeout=30) == 0


def test_date_range_helpers(db: Path) -> None:
    options = queries.filter_options(db)
    assert (options.first_date, options.last_date) == (SAMPLE.dates[0], SAMPLE.dates[-1])
    assert options.first_date + timedelta(days=SAMPLE.days - 1) == options.last_date
    assert "IOS" in options.platforms and "(not set)" in options.lists


def test_a_query_that_meets_a_half_written_partition_is_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race itself (the pipeline replacing a file while a query reads it) cannot be timed on
    # demand; a real half file on the first attempt gives DuckDB's real error at the same spot.
    sample = Sample(days=1, events_per_day=200)
    lake = build_sample_lake(tmp_path / "data", sample)
    day = sample.dates[0]
    expected = queries.list_leaderboard(lake.duckdb_path, Filters(day, day))
    partition = lake.partition_file("fact_event_items", day)
    whole = partition.read_bytes()
    real_read_only = queries.read_only
    attempts = []

    @contextmanager
    def first_read_meets_a_half_file(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        attempts.append(path)
        partition.write_bytes(whole[: len(whole) // 2] if len(attempts) == 1 else whole)
        with real_read_only(path) as con:
            yield con

    monkeypatch.setattr(queries, "read_only", first_read_meets_a_half_file)
    assert queries.list_leaderboard(lake.duckdb_path, Filters(day, day)).equals(expected)
    assert len(attempts) == 2

    # A mistake in the SQL is not a race: it fails at once.
    attempts.clear()
    with pytest.raises(duckdb.BinderException):
        queries._frame(lake.duckdb_path, "select no_such_column from fact_events")
    assert len(attempts) == 1


def test_the_default_range_is_complete_days_ending_yesterday(db: Path) -> None:
    options = queries.filter_options(db)
    first, last = options.first_date, options.last_date
    # Today has data: it is left out, the range ends yesterday.
    assert queries.default_range(options, last, 14) == (first, last - timedelta(days=1))
    assert queries.default_range(options, last, 1) == (last - timedelta(days=1),) * 2
    # The data ended before yesterday: every day of it is complete.
    assert queries.default_range(options, last + timedelta(days=30), 2) == (
        last - timedelta(1),
        last,
    )
    # Only today has data: today it is, partial.
    assert queries.default_range(options, first, 14) == (first, first)


def test_a_partial_day_is_compared_with_the_same_hours_of_the_previous_period(db: Path) -> None:
    tz = Settings.from_env({}).tz  # the sample's business time zone
    day_before, day = SAMPLE.dates[-2], SAMPLE.dates[-1]
    noon = datetime.combine(day, time(12, 30), tzinfo=tz)
    partial = Filters(day, day, until=noon)
    previous = partial.previous()
    assert (previous.start, previous.end) == (day_before, day_before)
    assert previous.until == datetime.combine(day_before, time(12, 30), tzinfo=tz)

    def views_until(until: datetime) -> dict[str, int]:
        rows = sql(
            db,
            f"""
            select {LIST_NAME.format("item_list_name")}, count(distinct event_id)
            from fact_event_items
            where event_name = 'view_item_list' and event_date = ? and event_timestamp <= ?
            group by 1
            """,
            [until.date(), until],
        )
        return dict(rows)

    for filters in (partial, previous):
        board = queries.list_leaderboard(db, filters)
        shown = {k: v for k, v in by_key(board, "item_list_name", "list_view_events").items() if v}
        assert shown == views_until(filters.until)
    whole_day = by_key(
        queries.list_leaderboard(db, Filters(day, day)), "item_list_name", "list_view_events"
    )
    cut = by_key(queries.list_leaderboard(db, partial), "item_list_name", "list_view_events")
    assert sum(cut.values()) < sum(whole_day.values()), "the afternoon is left out"
    trends = queries.daily_trends(db, Filters(day_before, day, until=noon))
    assert trends["list_view_events"].to_list() == [
        sum(
            by_key(
                queries.list_leaderboard(db, Filters(day_before, day_before)),
                "item_list_name",
                "list_view_events",
            ).values()
        ),
        sum(cut.values()),
    ]


def _reached_steps(db: Path) -> dict[tuple[str, int], int]:
    """The user funnel computed apart: each user's events per list and step, walked in time."""
    rows = sql(
        db,
        f"""
        select {LIST_NAME.format("item_list_name")}, user_id, event_timestamp,
            if(event_name = 'view_item_list', 1, 2)
        from fact_event_items where event_name in ('view_item_list', 'select_item')
        union all
        select {LIST_NAME.format("item_list_name")}, user_id, event_timestamp,
            if(event_name = 'view_item_list', 1, 2)
        from fact_events
        where event_name in ('view_item_list', 'select_item')
            and event_id not in (select event_id from fact_event_items)
        union all
        select {LIST_NAME.format("attributed_item_list_name")}, user_id, event_timestamp,
            case event_name when 'add_to_cart' then 3 when 'begin_checkout' then 4 else 5 end
        from fact_event_items where event_name in ('add_to_cart', 'begin_checkout', 'purchase')
        """,
    )
    events: dict[tuple[str, str], list[tuple[datetime, int]]] = {}
    for list_name, user, at, step in rows:
        events.setdefault((list_name, user), []).append((at, step))
    counts: dict[tuple[str, int], int] = {}
    for (list_name, _), seen in events.items():
        reached_at = None
        for step in range(1, 6):
            later = [at for at, s in seen if s == step and (reached_at is None or at >= reached_at)]
            if not later:
                break
            reached_at = min(later)
            counts[list_name, step] = counts.get((list_name, step), 0) + 1
    return counts


def test_the_user_funnel_never_widens_and_counts_users_in_step_order(db: Path) -> None:
    funnel = queries.list_user_funnel(db, everything())
    columns = [column for column, _ in queries.USER_STEPS]
    expected = _reached_steps(db)
    assert {
        (row["item_list_name"], step): row[column]
        for row in funnel.iter_rows(named=True)
        for step, column in enumerate(columns, start=1)
        if row[column]
    } == expected
    for row in funnel.iter_rows(named=True):
        steps = [row[column] for column in columns]
        assert steps == sorted(steps, reverse=True), row
    assert funnel["purchased_users"].sum() > 0, "the sample reaches the last step"
    # Step 1 is the leaderboard's viewers: the same list membership, distinct over the range.
    viewers = by_key(queries.list_leaderboard(db, everything()), "item_list_name", "list_viewers")
    assert by_key(funnel, "item_list_name", "viewed_users") == {
        k: v for k, v in viewers.items() if v
    }
    chosen = funnel["item_list_name"][1]
    narrowed = queries.list_user_funnel(db, everything(lists=(chosen,)))
    assert narrowed.rows() == [funnel.row(1)]


def test_rows_without_a_rate_get_no_rank(db: Path) -> None:
    board = queries.list_leaderboard(db, everything())
    ranked = queries.with_intervals(board, "click_through_rate", "list_clickers", "list_viewers")
    unrated = ranked.filter(pl.col("click_through_rate").is_null())
    assert unrated["item_list_name"].to_list() == ["(not set)"]
    assert unrated["click_through_rate_rank"].to_list() == [None]
    rated = ranked.filter(pl.col("click_through_rate").is_not_null()).sort(
        "click_through_rate_rank"
    )
    assert rated["click_through_rate_rank"].to_list() == list(range(1, rated.height + 1))
    rates = rated["click_through_rate"].to_list()
    assert rates == sorted(rates, reverse=True)
    assert rated["click_through_rate_same_as_next"][-1] is None, "the last rated row has no next"


# Four users of list L, each step an event at a minute of 2026-01-05 (event, minute):
# A buys now (no checkout); B clicks before viewing; C goes the whole way; D checks out before
# adding to the cart. Item counts widen (3 add-to-carts, 2 checkouts, 3 purchases); users must not.
JOURNEYS = {
    "A": [("view_item_list", 0), ("select_item", 5), ("add_to_cart", 10), ("purchase", 20)],
    "B": [("select_item", 0), ("view_item_list", 10)],
    "C": [
        ("view_item_list", 0),
        ("select_item", 1),
        ("add_to_cart", 2),
        ("begin_checkout", 3),
        ("purchase", 4),
    ],
    "D": [
        ("view_item_list", 0),
        ("select_item", 5),
        ("begin_checkout", 10),
        ("add_to_cart", 20),
        ("purchase", 30),
    ],
}


def test_the_user_funnel_counts_a_step_only_after_the_step_before(tmp_path: Path) -> None:
    db = tmp_path / "journeys.duckdb"
    day = date(2026, 1, 5)
    rows = [
        (f"{user}{number}", user, name, datetime(2026, 1, 5, 12, minute, tzinfo=UTC))
        for user, steps in JOURNEYS.items()
        for number, (name, minute) in enumerate(steps)
    ]
    with duckdb.connect(str(db)) as con:
        con.execute(
            "create table fact_events (event_id varchar, user_id varchar, event_name varchar, "
            "event_timestamp timestamptz, event_date date, platform varchar, "
            "item_list_name varchar)"
        )
        con.execute(
            "create table fact_event_items (event_id varchar, user_id varchar, "
            "event_name varchar, event_timestamp timestamptz, event_date date, item_id varchar, "
            "item_list_name varchar, attributed_item_list_name varchar)"
        )
        con.execute(
            "create table dim_items (item_id varchar, item_category varchar, is_current boolean)"
        )
        for event_id, user, name, at in rows:
            con.execute(
                "insert into fact_events values (?, ?, ?, ?, ?, 'IOS', 'L')",
                [event_id, user, name, at, day],
            )
            con.execute(
                "insert into fact_event_items values (?, ?, ?, ?, ?, 'SKU1', 'L', 'L')",
                [event_id, user, name, at, day],
            )
    funnel = queries.list_user_funnel(db, Filters(day, day))
    assert funnel.rows() == [("L", 4, 3, 3, 1, 1)]


def test_products_missing_from_the_item_dimension_still_have_a_name(
    db: Path, tmp_path: Path
) -> None:
    """dim_items is built after the marts: until it is, the products are named as unknown
    (a null name broke the product chart)."""
    copy = tmp_path / db.name
    shutil.copy(db, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("create table no_items as from dim_items limit 0")
        con.execute("create or replace view dim_items as from no_items")
    board = queries.product_leaderboard(copy, everything())
    assert board.height > 0
    assert set(board["item_name"]) == {queries.UNKNOWN_PRODUCT}
