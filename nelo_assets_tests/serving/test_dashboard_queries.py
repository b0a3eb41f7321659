"""Dashboard queries against a simulated lake: every number equals an independent SQL aggregate."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from nelo_assets.serving.analytics import publish_views
from nelo_assets.serving.dashboard import queries
from nelo_assets.serving.dashboard.queries import Filters
from nelo_assets.serving.dashboard.sample import Sample, build_sample_lake
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
