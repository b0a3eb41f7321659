"""Gold facts on hand-made silver partitions: sessions and list attribution, expectations by hand."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from nelo_assets.storage.lake import Lake
from nelo_assets.storage.tables import TABLE_SCHEMAS, empty_select
from nelo_assets.transform.facts import build_fact_event_items, build_fact_events
from nelo_assets_tests.environment import local, settings_for
from nelo_assets_tests.rows import read_rows
from nelo_assets_tests.transform.facts_input import silver_event, silver_item, write_silver

D = date(2026, 3, 10)


def build_days(lake: Lake, days: Iterable[date]) -> None:
    settings = settings_for(lake.root)
    days = sorted(days)
    for day in days:
        build_fact_events(lake, settings, day)
    for day in days:
        build_fact_event_items(lake, settings, day)


def fact_events(lake: Lake, *days: date) -> dict[str, dict[str, Any]]:
    rows = [r for day in days for r in read_rows(lake.partition_file("fact_events", day))]
    return {r["event_id"]: r for r in rows}


def session_groups(rows: dict[str, dict[str, Any]]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = defaultdict(set)
    for event_id, row in rows.items():
        groups[row["session_id"]].add(event_id)
    return {frozenset(g) for g in groups.values()}


# --- sessions ---------------------------------------------------------------------------------


def test_gap_of_1800_s_continues_a_session_and_1801_s_starts_one(lake: Lake) -> None:
    t0 = local(D, 10)
    write_silver(
        lake,
        [
            silver_event("a", "u1", t0),
            silver_event("b", "u1", t0 + timedelta(seconds=1800)),
            silver_event("c", "u1", t0 + timedelta(seconds=1800 + 1801)),
            silver_event("d", "u1", t0 + timedelta(seconds=1800 + 1801 + 1800)),
        ],
    )
    build_days(lake, [D])
    rows = fact_events(lake, D)
    assert session_groups(rows) == {frozenset({"a", "b"}), frozenset({"c", "d"})}
    assert all(r["session_id"] for r in rows.values())


def test_session_continues_across_midnight(lake: Lake) -> None:
    before = D - timedelta(days=1)
    write_silver(
        lake,
        [
            silver_event("late", "u1", local(before, 23, 50)),
            silver_event("early", "u1", local(D, 0, 10)),  # 20 min later: same session
            silver_event("later", "u1", local(D, 0, 50)),  # 40 min later: new session
        ],
    )
    build_days(lake, [before, D])
    rows = fact_events(lake, before, D)
    assert rows["late"]["event_date"] == before and rows["early"]["event_date"] == D
    assert session_groups(rows) == {frozenset({"late", "early"}), frozenset({"later"})}
    # only the partition's own events are written
    assert set(fact_events(lake, D)) == {"early", "later"}


def test_late_first_half_of_a_session_gives_the_ids_of_a_single_build(tmp_path: Path) -> None:
    before = D - timedelta(days=1)
    first_half = [
        silver_event("p", "u1", local(before, 23, 40)),
        silver_event("q", "u1", local(before, 23, 55)),
    ]
    second_half = [
        silver_event("r", "u1", local(D, 0, 10)),
        silver_event("s", "u1", local(D, 0, 30)),
    ]

    incremental = Lake(tmp_path / "incremental")
    write_silver(incremental, second_half)
    build_days(incremental, [D])
    early_ids = {r["session_id"] for r in fact_events(incremental, D).values()}
    write_silver(incremental, first_half + second_half)  # D-1 arrives a day late
    build_days(incremental, [before, D])

    full = Lake(tmp_path / "full")
    write_silver(full, first_half + second_half)
    build_days(full, [before, D])

    rows = fact_events(incremental, before, D)
    assert session_groups(rows) == {frozenset({"p", "q", "r", "s"})}
    assert rows == fact_events(full, before, D)
    # the late half moved the session's start, so the id built before it arrived is gone
    assert len(early_ids) == 1 and early_ids.isdisjoint({r["session_id"] for r in rows.values()})


def test_two_users_interleaved_have_their_own_sessions(lake: Lake) -> None:
    t0 = local(D, 9)
    at = [t0 + timedelta(seconds=s) for s in (0, 600, 1500, 2500, 3000)]
    write_silver(
        lake,
        [
            silver_event("a1", "u1", at[0]),
            silver_event("b1", "u2", at[1]),
            silver_event("a2", "u1", at[2]),  # 1500 s after a1
            silver_event("b2", "u2", at[3]),  # 1900 s after b1: new session
            silver_event("a3", "u1", at[4]),  # 1500 s after a2
        ],
    )
    build_days(lake, [D])
    rows = fact_events(lake, D)
    assert session_groups(rows) == {
        frozenset({"a1", "a2", "a3"}),
        frozenset({"b1"}),
        frozenset({"b2"}),
    }
    assert {r["user_id"] for r in rows.values() if r["session_id"] == rows["a1"]["session_id"]} == {
        "u1"
    }


def test_event_hour_and_processed_at(lake: Lake) -> None:
    before = D - timedelta(days=1)
    newest_receipt = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    write_silver(
        lake,
        [
            # 05:30 UTC on D is 23:30 the evening before in Mexico City
            silver_event(
                "x", "u1", datetime(2026, 3, 10, 5, 30, tzinfo=UTC), received_at=newest_receipt
            ),
            silver_event("y", "u1", datetime(2026, 3, 10, 6, 0, tzinfo=UTC)),
            silver_event("z", "u2", datetime(2026, 3, 10, 18, 45, tzinfo=UTC)),
            silver_event(
                "old", "u3", datetime(2026, 3, 8, 12, 0, tzinfo=UTC), received_at=newest_receipt
            ),
        ],
    )
    build_days(lake, [D])
    rows = fact_events(lake, D)
    assert set(rows) == {"y", "z"}
    assert rows["y"]["event_hour"] == 0 and rows["z"]["event_hour"] == 12
    # the watermark covers D-1 .. D (x is on D-1), not D-2
    assert {r["processed_at"] for r in rows.values()} == {newest_receipt}
    build_days(lake, [before])
    assert fact_events(lake, before)["x"]["event_hour"] == 23


def test_columns_follow_the_schemas(lake: Lake) -> None:
    write_silver(
        lake, [silver_event("e", "u1", local(D, 12), "add_to_cart", items=[silver_item("sku")])]
    )
    build_days(lake, [D])
    con = duckdb.connect()
    try:
        for table in ("fact_events", "fact_event_items"):
            path = lake.partition_file(table, D)
            written = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
            declared = con.execute(f"DESCRIBE {empty_select(table)}").fetchall()
            assert [row[:2] for row in written] == [row[:2] for row in declared]
            assert [row[0] for row in written] == [c.name for c in TABLE_SCHEMAS[table]]
    finally:
        con.close()


def test_rebuilding_gives_the_same_rows(tmp_path: Path) -> None:
    """R3: a re-run, or a build from the same silver rows stored in another order, writes the
    same rows (order aside: the facts are not sorted, see docs/decisions.md section 11)."""
    events = [
        silver_event(
            f"e{n}", f"u{n % 3}", local(D, n % 24, n % 60), name, items=[silver_item(f"sku{n % 4}")]
        )
        for n, name in enumerate(["select_item", "add_to_cart", "view_item", "purchase"] * 10)
    ]
    before = D - timedelta(days=1)
    events.append(
        silver_event(
            "prev", "u1", local(before, 23, 59), "select_item", items=[silver_item("sku1")]
        )
    )
    first, second = Lake(tmp_path / "one"), Lake(tmp_path / "two")
    write_silver(first, events)
    write_silver(second, reversed(events))
    build_days(first, [before, D])

    def rows_of(lake: Lake, table: str) -> list[str]:
        return sorted(map(str, read_rows(lake.partition_file(table, D))))

    snapshot = {table: rows_of(first, table) for table in ("fact_events", "fact_event_items")}
    build_days(first, [D])
    build_days(second, [before, D])
    for table, content in snapshot.items():
        assert rows_of(first, table) == content
        assert rows_of(second, table) == content
    assert len(snapshot["fact_event_items"]) == 40


# --- attribution and item measures -----------------------------------------------------------


def attributed(lake: Lake, day: date) -> dict[str, tuple[str, str]]:
    rows = read_rows(lake.partition_file("fact_event_items", day))
    return {
        r["event_item_id"]: (r["attributed_item_list_name"], r["attribution_source"]) for r in rows
    }


def test_list_attribution(lake: Lake) -> None:
    t = local(D, 12)
    hour = timedelta(hours=1)
    week = timedelta(hours=168)
    second = timedelta(seconds=1)
    events = [
        # own list
        silver_event("explicit", "u1", t, "add_to_cart", items=[silver_item("A", "Home")]),
        # the list silver filled in from the event level beats a later click on another list
        silver_event("clk_fb", "u1", t - hour, "select_item", items=[silver_item("B", "Search")]),
        silver_event("fallback", "u1", t, "purchase", "Promo", items=[silver_item("B", "Promo")]),
        # an empty own list is absent
        silver_event(
            "clk_empty", "u1", t - hour, "select_item", items=[silver_item("C", "Search")]
        ),
        silver_event("empty", "u1", t, "add_to_cart", items=[silver_item("C", "")]),
        # last click, including one on the day before
        silver_event(
            "clk_prev",
            "u1",
            local(D - timedelta(days=1), 23, 0),
            "select_item",
            items=[silver_item("D", "Yesterday")],
        ),
        silver_event("last", "u1", t, "begin_checkout", items=[silver_item("D")]),
        # a click at the same instant counts; one a second later does not
        silver_event("clk_same", "u2", t, "select_item", items=[silver_item("A", "Same")]),
        silver_event(
            "clk_after", "u2", t + second, "select_item", items=[silver_item("A", "After")]
        ),
        silver_event("same", "u2", t, "add_to_cart", items=[silver_item("A")]),
        # exactly 168 h counts, 168 h + 1 s does not
        silver_event("clk_week", "u3", t - week, "select_item", items=[silver_item("A", "Week")]),
        silver_event("week", "u3", t, "purchase", items=[silver_item("A")]),
        silver_event(
            "clk_too_old", "u4", t - week - second, "select_item", items=[silver_item("A", "Old")]
        ),
        silver_event("too_old", "u4", t, "purchase", items=[silver_item("A")]),
        # two lists: the latest click wins; at the same instant the larger event_id wins
        silver_event(
            "clk_l1", "u5", t - 3 * hour, "select_item", items=[silver_item("A", "First")]
        ),
        silver_event(
            "clk_l2", "u5", t - 2 * hour, "select_item", items=[silver_item("A", "Second")]
        ),
        silver_event("two", "u5", t, "add_to_cart", items=[silver_item("A")]),
        silver_event(
            "clk_t1", "u5", t - 2 * hour, "select_item", items=[silver_item("B", "TieLow")]
        ),
        silver_event(
            "clk_t2", "u5", t - 2 * hour, "select_item", items=[silver_item("B", "TieHigh")]
        ),
        silver_event("tie", "u5", t, "add_to_cart", items=[silver_item("B")]),
        # one click event listing the item twice: the later item_index wins
        silver_event(
            "clk_i",
            "u5",
            t - hour,
            "select_item",
            items=[silver_item("C", "Idx0"), silver_item("C", "Idx1")],
        ),
        silver_event("index", "u5", t, "add_to_cart", items=[silver_item("C")]),
        # another user's click, a click on another item, a click without a list: ignored
        silver_event(
            "clk_other_user", "u6", t - hour, "select_item", items=[silver_item("A", "Theirs")]
        ),
        silver_event("other_user", "u7", t, "purchase", items=[silver_item("A")]),
        silver_event(
            "clk_other_item", "u8", t - hour, "select_item", items=[silver_item("Z", "Other")]
        ),
        silver_event("other_item", "u8", t, "purchase", items=[silver_item("A")]),
        silver_event(
            "clk_listed", "u9", t - 3 * hour, "select_item", items=[silver_item("A", "Listed")]
        ),
        silver_event("clk_unlisted", "u9", t - hour, "select_item", items=[silver_item("A")]),
        silver_event("unlisted", "u9", t, "add_to_cart", items=[silver_item("A")]),
        # other event names never borrow a click
        silver_event(
            "clk_view", "u10", t - hour, "select_item", items=[silver_item("A", "Clicked")]
        ),
        silver_event("view", "u10", t, "view_item", items=[silver_item("A")]),
        silver_event("view_listed", "u10", t, "view_item_list", items=[silver_item("A", "Grid")]),
        # several items of one conversion are attributed one by one
        silver_event(
            "multi", "u1", t, "purchase", items=[silver_item("A", "Home"), silver_item("D")]
        ),
    ]
    write_silver(lake, events)
    build_days(lake, [D - timedelta(days=1), D])
    got = attributed(lake, D)
    expected = {
        "explicit:0": ("Home", "explicit"),
        "fallback:0": ("Promo", "explicit"),
        "empty:0": ("Search", "last_click"),
        "last:0": ("Yesterday", "last_click"),
        "same:0": ("Same", "last_click"),
        "week:0": ("Week", "last_click"),
        "too_old:0": ("(not set)", "none"),
        "two:0": ("Second", "last_click"),
        "tie:0": ("TieHigh", "last_click"),
        "index:0": ("Idx1", "last_click"),
        "other_user:0": ("(not set)", "none"),
        "other_item:0": ("(not set)", "none"),
        "unlisted:0": ("Listed", "last_click"),
        "view:0": ("(not set)", "none"),
        "view_listed:0": ("Grid", "explicit"),
        "multi:0": ("Home", "explicit"),
        "multi:1": ("Yesterday", "last_click"),
    }
    for event_item_id, value in expected.items():
        assert got[event_item_id] == value, event_item_id
    # clicks are item rows too: with their own list they are explicit, without it none
    assert got["clk_after:0"] == ("After", "explicit")
    assert got["clk_unlisted:0"] == ("(not set)", "none")
    # one row per silver item of D: the click from the day before is not in D's partition
    assert "clk_prev:0" not in got
    assert len(got) == sum(len(e["items"]) for e in events if e["event_date"] == D)


def test_item_measures_and_session(lake: Lake) -> None:
    t = local(D, 15)
    write_silver(
        lake,
        [
            silver_event(
                "v", "u1", t - timedelta(minutes=5), "view_item", items=[silver_item("A")]
            ),
            silver_event(
                "p",
                "u1",
                t,
                "purchase",
                items=[
                    silver_item("A", price="12.50", quantity=3, discount_amount="5.00"),
                    silver_item(
                        "B", price="0.99", quantity=2, discount_amount="0.00", discounts="SUMMER"
                    ),
                    silver_item("C", price=None, quantity=1, discount_amount="0.00", discounts=""),
                    silver_item("D", price="7.00", quantity=1, discount_amount=None),
                ],
            ),
        ],
    )
    build_days(lake, [D])
    rows = {r["event_item_id"]: r for r in read_rows(lake.partition_file("fact_event_items", D))}
    assert rows["p:0"]["total_price"] == Decimal("37.50")
    assert rows["p:1"]["total_price"] == Decimal("1.98")
    assert rows["p:2"]["total_price"] is None
    assert rows["p:3"]["total_price"] == Decimal("7.00")
    assert [rows[f"p:{n}"]["has_discount"] for n in range(4)] == [True, True, False, False]
    sessions = fact_events(lake, D)
    assert rows["p:0"]["session_id"] == sessions["p"]["session_id"] == sessions["v"]["session_id"]
    assert rows["p:0"]["user_id"] == "u1" and rows["p:0"]["event_name"] == "purchase"
    assert rows["p:0"]["event_timestamp"] == t.astimezone(UTC)


def test_empty_partition_writes_an_empty_file(lake: Lake) -> None:
    settings = settings_for(lake.root)
    assert build_fact_events(lake, settings, D) == 0
    assert build_fact_event_items(lake, settings, D) == 0
    assert read_rows(lake.partition_file("fact_event_items", D)) == []
