"""The daily marts and the two views, on a small hand-made fixture whose every metric is
worked out by hand in the comments next to the expected rows."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import bind_parquet, connect, load_sql
from nelo_assets.transform.dims import build_dim_items
from nelo_assets.transform.marts import (
    build_mart_item_list_daily,
    build_mart_list_position_daily,
    build_mart_product_daily_metrics,
)
from nelo_assets_tests.environment import at
from nelo_assets_tests.rows import read_rows, write_partitions

D0, D = date(2026, 3, 9), date(2026, 3, 10)
PROCESSED_AT = datetime.fromisoformat("2026-03-11T00:00:00+00:00")
NOT_SET = "(not set)"


def item(
    item_id: str,
    qty: int | None = None,
    price: str | None = None,
    list_name: str | None = None,
    attributed: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "item_name": name or f"Product {item_id}",
        "item_brand": "Nelo",
        "item_category": "Home",
        "quantity": qty,
        "price": None if price is None else Decimal(price),
        "total_price": None if price is None else Decimal(price) * (qty or 1),
        "item_list_name": list_name,
        "attributed_item_list_name": attributed or list_name or NOT_SET,
    }


def event(
    event_id: str,
    name: str,
    user: str,
    when: datetime,
    list_name: str | None = None,
    items: tuple[dict[str, Any], ...] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One fact_events row and its fact_event_items rows (item lists already after fallback)."""
    shared = {
        "event_id": event_id,
        "user_id": user,
        "session_id": f"{user}-s",
        "event_name": name,
        "event_timestamp": when,
        "event_date": when.date(),
    }
    fact = {
        **shared,
        "event_hour": when.hour - 6,  # Mexico City is UTC-6 in March
        "platform": "IOS",
        "item_list_name": list_name,
        "processed_at": PROCESSED_AT,
    }
    rows = [
        {**shared, **it, "event_item_id": f"{event_id}:{i}", "position_in_list": i}
        for i, it in enumerate(items)
    ]
    return fact, rows


FIXTURE = [
    # The day before: u5 views "deals"; P1 still had its old name.
    event("E0", "view_item_list", "u5", at(D0, 15), "deals", (item("P3", list_name="deals"),)),
    event("E0b", "view_item", "u5", at(D0, 16), None, (item("P1", name="Old name"),)),
    # Day D.
    event(
        "E1",
        "view_item_list",
        "u1",
        at(D, 15),
        "home",
        (
            item("P1", list_name="home", name="New name"),
            item("P2", list_name="home"),
            item("P3", list_name="home"),
        ),
    ),
    event(
        "E2",
        "view_item_list",
        "u2",
        at(D, 15, 1),
        "home",
        (item("P1", list_name="home", name="New name"), item("P2", list_name="home")),
    ),
    event("E19", "view_item_list", "u1", at(D, 15, 2), "home", (item("P2", list_name="home"),)),
    # No event-level list; its items name two lists, one of them empty: "search" and (not set).
    event(
        "E3",
        "view_item_list",
        "u1",
        at(D, 15, 3),
        None,
        (item("P1", list_name="search", name="New name"), item("P4", list_name="")),
    ),
    event("E4", "view_item_list", "u3", at(D, 15, 4), "search"),  # no items: its own list
    event(
        "E5",
        "select_item",
        "u1",
        at(D, 15, 5),
        "home",
        (item("P1", list_name="home", name="New name"),),  # quantity absent: counts 1
    ),
    event("E6", "select_item", "u4", at(D, 15, 6), "promo", (item("P5", 2, list_name="promo"),)),
    event(
        "E7",
        "add_to_cart",
        "u1",
        at(D, 15, 7),
        None,
        (item("P1", 2, "10.00", attributed="home", name="New name"), item("P2", 1, "5.50")),
    ),
    event(
        "E8",
        "begin_checkout",
        "u1",
        at(D, 15, 8),
        None,
        (item("P1", 2, "10.00", attributed="home", name="New name"),),
    ),
    event(
        "E9",
        "purchase",
        "u1",
        at(D, 15, 9),
        None,
        (item("P1", 2, "10.00", attributed="home", name="New name"), item("P2", 1, "5.50")),
    ),
    event(
        "E10", "purchase", "u2", at(D, 15, 10), None, (item("P3", 3, "2.00", list_name="deals"),)
    ),
    event("E11", "select_item", "u6", at(D, 15, 11)),  # no items, no list: (not set)
    event("E12", "view_item_list", "u2", at(D, 15, 12), "deals", (item("P3", list_name="deals"),)),
    event("E13", "select_item", "u2", at(D, 15, 13), "deals", (item("P3", 1, list_name="deals"),)),
    # u5 viewed "deals" yesterday and clicks today: deals has more clickers than viewers today.
    event("E14", "select_item", "u5", at(D, 15, 14), "deals", (item("P3", 1, list_name="deals"),)),
    event("E15", "view_item", "u1", at(D, 15, 15), None, (item("P1", name="New name"),)),
    event("E16", "view_item", "u3", at(D, 15, 16), None, (item("P1", 2, name="New name"),)),
    # Neither feeds a metric: no row for list "refunds", list "screens" or item P9.
    event("E17", "refund", "u1", at(D, 15, 17), "refunds", (item("P9", 1, "7.00", "refunds"),)),
    event("E18", "screen_view", "u1", at(D, 15, 18), "screens"),
]


def write_fixture(lake: Lake, events: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> None:
    write_partitions(lake, "fact_events", [fact for fact, _ in events])
    write_partitions(lake, "fact_event_items", [row for _, rows in events for row in rows])


@pytest.fixture
def lake(lake: Lake) -> Lake:
    """The conftest's empty lake, holding FIXTURE."""
    write_fixture(lake, FIXTURE)
    return lake


def list_row(
    name: str,
    views: tuple[int, int, int],
    clicks: tuple[int, int, int],
    attributed: tuple[int, int, int, str, int],
    rates: tuple[float | None, float | None],
) -> dict[str, Any]:
    """A mart_item_list_daily row for day D, from its metrics grouped as in docs/tables.md."""
    cart, checkout, purchased, revenue, purchasers = attributed
    return {
        "event_date": D,
        "item_list_name": name,
        "list_view_events": views[0],
        "list_viewers": views[1],
        "item_impressions": views[2],
        "list_click_events": clicks[0],
        "list_clickers": clicks[1],
        "items_clicked": clicks[2],
        "click_through_rate": rates[0],
        "item_click_rate": rates[1],
        "attributed_add_to_cart_items": cart,
        "attributed_checkout_items": checkout,
        "attributed_purchased_items": purchased,
        "attributed_revenue": Decimal(revenue),
        "attributed_purchasers": purchasers,
    }


def test_mart_item_list_daily_every_metric(lake: Lake, settings: Settings) -> None:
    assert build_mart_item_list_daily(lake, settings, D) == 5

    rows = read_rows(lake.partition_file("mart_item_list_daily", D), "item_list_name")
    assert rows == [
        # views: E3 via P4's empty list (u1), 1 item row; clicks: E11 (u6), no items.
        # attributed: E7 P2 qty 1; E9 P2 qty 1, 5.50, u1. CTR 1/1; item click rate 0/1.
        list_row(NOT_SET, (1, 1, 1), (1, 1, 0), (1, 0, 1, "5.50", 1), (1.0, 0.0)),
        # views: E12 (u2), 1 item row; clicks: E13 (u2) + E14 (u5, viewed on D0), qty 1 + 1.
        # attributed: E10 P3 qty 3 x 2.00 = 6.00 (u2). CTR 2/1; item click rate 2/1.
        list_row("deals", (1, 1, 1), (2, 2, 2), (0, 0, 3, "6.00", 1), (2.0, 2.0)),
        # views: E1, E2, E19 by u1, u2, u1; item rows 3 + 2 + 1. clicks: E5 (u1), qty absent = 1.
        # attributed last-click: E7 P1 qty 2, E8 P1 qty 2, E9 P1 qty 2 x 10.00 = 20.00 (u1).
        # CTR 1/2; item click rate 1/6.
        list_row("home", (3, 2, 6), (1, 1, 1), (2, 2, 2, "20.00", 1), (1 / 2, 1 / 6)),
        # no views: both rates have a zero denominator. clicks: E6 (u4) qty 2.
        list_row("promo", (0, 0, 0), (1, 1, 2), (0, 0, 0, "0.00", 0), (None, None)),
        # views: E3 via P1 (u1) and E4 with no items (u3); 1 item row. No clicks: 0/2, 0/1.
        list_row("search", (2, 2, 1), (0, 0, 0), (0, 0, 0, "0.00", 0), (0.0, 0.0)),
    ]


def product_row(
    item_id: str,
    list_funnel: tuple[int, int],
    funnel: tuple[int, int, int, int, str],
    users: tuple[int, int, int],
    rates: tuple[float | None, float | None, float | None],
) -> dict[str, Any]:
    """A mart_product_daily_metrics row for day D, from its metrics grouped as in docs/tables.md."""
    viewed, added, checked_out, purchased, revenue = funnel
    return {
        "event_date": D,
        "item_id": item_id,
        "impressions": list_funnel[0],
        "clicks": list_funnel[1],
        "click_through_rate": rates[0],
        "items_viewed": viewed,
        "items_added_to_cart": added,
        "items_checked_out": checked_out,
        "items_purchased": purchased,
        "item_revenue": Decimal(revenue),
        "viewers": users[0],
        "cart_adders": users[1],
        "purchasers": users[2],
        "cart_to_view_rate": rates[1],
        "purchase_to_view_rate": rates[2],
    }


def test_mart_product_daily_metrics_every_metric(lake: Lake, settings: Settings) -> None:
    assert build_mart_product_daily_metrics(lake, settings, D) == 5

    rows = read_rows(lake.partition_file("mart_product_daily_metrics", D), "item_id")
    assert rows == [
        # impressions E1, E2, E3; clicks E5 = 1; viewed E15 1 + E16 2 = 3 by u1, u3;
        # cart E7 2 (u1); checkout E8 2; purchase E9 2, 2 x 10.00 = 20.00 (u1).
        # CTR 1/3; cart/view 1/2; purchase/view 1/2.
        product_row("P1", (3, 1), (3, 2, 2, 2, "20.00"), (2, 1, 1), (1 / 3, 1 / 2, 1 / 2)),
        # impressions E1, E2, E19; cart E7 1 (u1); purchase E9 1 x 5.50 (u1); no viewers.
        product_row("P2", (3, 0), (0, 1, 0, 1, "5.50"), (0, 1, 1), (0.0, None, None)),
        # impressions E1, E12; clicks E13 1 + E14 1; purchase E10 3 x 2.00 = 6.00 (u2).
        product_row("P3", (2, 2), (0, 0, 0, 3, "6.00"), (0, 0, 1), (1.0, None, None)),
        # impressions E3 (its list was empty): 1; nothing else.
        product_row("P4", (1, 0), (0, 0, 0, 0, "0.00"), (0, 0, 0), (0.0, None, None)),
        # clicks E6 qty 2 without an impression.
        product_row("P5", (0, 2), (0, 0, 0, 0, "0.00"), (0, 0, 0), (None, None, None)),
    ]


def positioned(
    event_id: str, name: str, user: str, minute: int, items: tuple[tuple[Any, ...], ...]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An event on D whose items are (item_id, list, position, qty): positions set by hand."""
    fact, rows = event(
        event_id,
        name,
        user,
        at(D, 16, minute),
        None,
        tuple(item(item_id, qty, list_name=list_name) for item_id, list_name, _, qty in items),
    )
    return fact, [{**row, "position_in_list": it[2]} for row, it in zip(rows, items, strict=True)]


POSITION_FIXTURE = [
    # One view, two lists: home at 0 and 1, search at 0; P4 has no position and is left out.
    positioned(
        "V1",
        "view_item_list",
        "u1",
        0,
        (
            ("P1", "home", 0, None),
            ("P2", "home", 1, None),
            ("P3", "search", 0, None),
            ("P4", "home", None, None),
        ),
    ),
    # home at 0 again; an empty list name is (not set), here at position 3.
    positioned("V2", "view_item_list", "u2", 1, (("P1", "home", 0, None), ("P5", "", 3, None))),
    positioned("C1", "select_item", "u1", 2, (("P2", "home", 1, 2),)),  # qty 2 at home 1
    positioned("C2", "select_item", "u2", 3, (("P6", "home", 7, None),)),  # 7 was never shown
    positioned("C3", "select_item", "u1", 4, (("P4", "home", None, 1),)),  # no position: out
    positioned("A1", "add_to_cart", "u1", 5, (("P1", "home", 0, 1),)),  # not a view or a click
]


def test_mart_list_position_daily_every_metric(tmp_path: Path, settings: Settings) -> None:
    lake = Lake(tmp_path / "positions")
    write_fixture(lake, POSITION_FIXTURE)
    assert build_mart_list_position_daily(lake, settings, D) == 5

    rows = read_rows(
        lake.partition_file("mart_list_position_daily", D), "item_list_name, position_in_list"
    )
    keys = ("item_list_name", "position_in_list", "item_impressions", "item_clicks")
    assert [(*(row[k] for k in keys), row["item_click_rate"]) for row in rows] == [
        (NOT_SET, 3, 1, 0, 0.0),  # V2's P5
        ("home", 0, 2, 0, 0.0),  # V1 and V2 show P1 at 0; A1 is not a click
        ("home", 1, 1, 2, 2.0),  # V1's P2; C1 clicks qty 2: a rate above 1
        ("home", 7, 0, 1, None),  # C2 (qty absent: 1) at a position never shown: no rate
        ("search", 0, 1, 0, 0.0),  # V1's P3, the same event's other list
    ]
    assert all(row["event_date"] == D for row in rows)


def test_marts_of_a_day_without_facts_are_empty(lake: Lake, settings: Settings) -> None:
    empty_day = date(2026, 3, 20)
    assert build_mart_item_list_daily(lake, settings, empty_day) == 0
    assert build_mart_product_daily_metrics(lake, settings, empty_day) == 0
    assert build_mart_list_position_daily(lake, settings, empty_day) == 0
    assert lake.partition_file("mart_item_list_daily", empty_day).exists()


def test_marts_rebuild_gives_identical_files(lake: Lake, settings: Settings) -> None:
    def rebuild() -> list[bytes]:
        build_mart_item_list_daily(lake, settings, D)
        build_mart_product_daily_metrics(lake, settings, D)
        build_mart_list_position_daily(lake, settings, D)
        return [
            lake.partition_file(table, D).read_bytes()
            for table in (
                "mart_item_list_daily",
                "mart_product_daily_metrics",
                "mart_list_position_daily",
            )
        ]

    assert rebuild() == rebuild()


def query_view(lake: Lake, view: str, inputs: dict[str, list[Path]], order_by: str) -> list[dict]:
    """Query a view's SQL with its relations bound as temp views, as analytics.duckdb would."""
    with connect() as con:
        for relation, files in inputs.items():
            bind_parquet(con, relation, relation, files)
        cur = con.execute(f"select * from ({load_sql('views', view)}) order by {order_by}")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_mart_product_daily_shows_the_current_name_on_every_date(
    lake: Lake, settings: Settings
) -> None:
    for day in (D0, D):
        build_mart_product_daily_metrics(lake, settings, day)
    build_dim_items(lake, settings)

    rows = query_view(
        lake,
        "mart_product_daily",
        {
            "mart_product_daily_metrics": lake.all_partition_files("mart_product_daily_metrics"),
            "dim_items": [lake.table_file("dim_items")],
        },
        "event_date, item_id",
    )

    names = [(r["event_date"], r["item_id"], r["item_name"]) for r in rows]
    # P1 was "Old name" on D0 and renamed on D: both dates show the current name.
    assert names == [
        (D0, "P1", "New name"),
        (D0, "P3", "Product P3"),
        *[
            (D, p, "New name" if p == "P1" else f"Product {p}")
            for p in ("P1", "P2", "P3", "P4", "P5")
        ],
    ]
    assert all(r["item_brand"] == "Nelo" and r["item_category"] == "Home" for r in rows)
    assert rows[0]["items_viewed"] == 1  # E0b, from the D0 metrics partition


ENGAGEMENT_COLUMNS = [
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
    "event_timestamp",
    "user_id",
    "session_id",
    "event_date",
    "event_hour",
    "processed_at_fact_events",
]


def test_master_list_items_engagement_columns_and_rows(lake: Lake) -> None:
    # A copy of E10 whose time disagrees lands on D0 too (docs/events.md, Duplicates): both kept.
    copy = event("E10", "purchase", "u2", at(D0, 20), None, (item("P3", 1, "2.00", "deals"),))
    write_fixture(lake, [*FIXTURE, copy])

    rows = query_view(
        lake,
        "master_list_items_engagement",
        {t: lake.all_partition_files(t) for t in ("fact_event_items", "fact_events")},
        "event_item_id",
    )

    assert list(rows[0]) == ENGAGEMENT_COLUMNS
    # Item rows whose own list is not NULL: every one except E0b, E7, E8, E9, E15, E16 rows.
    # E10:0 twice (one per copy, each joined only to its own date); E3:1's list is ''.
    assert sorted((r["event_item_id"], r["event_date"]) for r in rows) == sorted(
        [
            ("E0:0", D0),
            ("E1:0", D),
            ("E1:1", D),
            ("E1:2", D),
            ("E10:0", D0),
            ("E10:0", D),
            ("E12:0", D),
            ("E13:0", D),
            ("E14:0", D),
            ("E17:0", D),
            ("E19:0", D),
            ("E2:0", D),
            ("E2:1", D),
            ("E3:0", D),
            ("E3:1", D),
            ("E5:0", D),
            ("E6:0", D),
        ]
    )
    e10 = next(r for r in rows if r["event_item_id"] == "E10:0" and r["event_date"] == D)
    assert (e10["item_list_name"], e10["quantity"], e10["total_price"]) == (
        "deals",
        3,
        Decimal("6.00"),
    )
    assert (e10["event_hour"], e10["processed_at_fact_events"]) == (9, PROCESSED_AT)
    assert (e10["user_id"], e10["session_id"], e10["event_timestamp"]) == (
        "u2",
        "u2-s",
        at(D, 15, 10),
    )
