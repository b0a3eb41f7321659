"""dim_items (SCD2) and dim_users, built from hand-made fact partitions and checked by hand."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.dims import build_dim_items, build_dim_users
from nelo_assets_tests.environment import at
from nelo_assets_tests.rows import read_rows, write_partitions

D1, D2, D3 = date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)


def item_row(
    row_id: str, when: datetime, name: str | None, price: str | None, item_id: str = "A1"
) -> dict[str, Any]:
    return {
        "event_item_id": f"{row_id}:0",
        "event_id": row_id,
        "event_date": when.date(),
        "event_timestamp": when,
        "user_id": "u1",
        "event_name": "view_item",
        "item_id": item_id,
        "item_name": name,
        "item_brand": "Nike" if item_id == "A1" else None,
        "item_category": "Shoes",
        "price": None if price is None else Decimal(price),
        "quantity": 1,
    }


# A1: Shoe, Shoe, Shoe 2 (rename), Shoe (rename back; the last row has no price).
# B1 has no brand on any row: NULL equals NULL, so it has one version. b2 and b3 share an
# instant: b3 is later by event_id, so its lower price is B1's last price.
# C1 changes within a day (Cup, Mug on D1), keeps Mug across midnight, and changes again at the
# very instant of its D2 Mug row (c4 sorts after c3 by event_id).
T1, T2, T3, T4, T5 = at(D1, 15), at(D1, 16), at(D2, 15), at(D3, 15), at(D3, 16)
BASE_ITEMS = [
    item_row("e1", T1, "Shoe", "10.00"),
    item_row("e2", T2, "Shoe", "12.00"),
    item_row("e3", T3, "Shoe 2", "13.00"),
    item_row("e4", T4, "Shoe", "11.00"),
    item_row("e5", T5, "Shoe", None),
    item_row("b1", T1, "Bag", "30.00", item_id="B1"),
    item_row("b2", T4, "Bag", "31.00", item_id="B1"),
    item_row("b3", T4, "Bag", "29.00", item_id="B1"),
    item_row("c1", T1, "Cup", "1.00", item_id="C1"),
    item_row("c2", T2, "Mug", "2.00", item_id="C1"),
    item_row("c3", T3, "Mug", "2.50", item_id="C1"),
    item_row("c4", T3, "Jar", None, item_id="C1"),
]


def versions(lake: Lake, item_id: str) -> list[tuple]:
    rows = read_rows(lake.table_file("dim_items"), "valid_from")
    return [
        (
            r["item_name"],
            r["valid_from"],
            r["valid_to"],
            r["is_current"],
            r["first_seen_at"],
            r["last_seen_at"],
            r["last_price"],
        )
        for r in rows
        if r["item_id"] == item_id
    ]


def test_dim_items_rename_and_rename_back_give_three_chained_versions(
    lake: Lake, settings: Settings
) -> None:
    write_partitions(lake, "fact_event_items", BASE_ITEMS)

    assert build_dim_items(lake, settings) == 3 + 1 + 3

    # (name, valid_from, valid_to, is_current, first_seen_at, last_seen_at, last_price)
    assert versions(lake, "A1") == [
        ("Shoe", T1, T3, False, T1, T2, Decimal("12.00")),  # rows e1, e2
        ("Shoe 2", T3, T4, False, T3, T3, Decimal("13.00")),  # row e3
        ("Shoe", T4, None, True, T4, T5, Decimal("11.00")),  # e4, e5; e5 has no price
    ]
    assert versions(lake, "B1") == [("Bag", T1, None, True, T1, T4, Decimal("29.00"))]
    assert versions(lake, "C1") == [
        ("Cup", T1, T2, False, T1, T1, Decimal("1.00")),  # c1
        ("Mug", T2, T3, False, T2, T3, Decimal("2.50")),  # c2 (D1), c3 (D2)
        ("Jar", T3, None, True, T3, T3, None),  # c4: no price seen
    ]
    rows = read_rows(lake.table_file("dim_items"), "item_sk")
    assert len({r["item_sk"] for r in rows}) == 7
    assert all(r["item_brand"] is None for r in rows if r["item_id"] == "B1")


def test_dim_items_late_row_matching_its_version_adds_nothing(
    lake: Lake, settings: Settings
) -> None:
    write_partitions(lake, "fact_event_items", BASE_ITEMS)
    build_dim_items(lake, settings)
    before = read_rows(lake.table_file("dim_items"), "item_sk")

    # Arrives days later, but its time (between e1 and e2) is inside the first "Shoe" version.
    late = item_row("late", at(D1, 15, 30), "Shoe", "99.00")
    write_partitions(lake, "fact_event_items", [*BASE_ITEMS, late])
    build_dim_items(lake, settings)

    assert read_rows(lake.table_file("dim_items"), "item_sk") == before


def test_dim_items_late_row_that_differs_splits_its_version(lake: Lake, settings: Settings) -> None:
    write_partitions(lake, "fact_event_items", BASE_ITEMS)
    build_dim_items(lake, settings)
    current_sk = [r for r in read_rows(lake.table_file("dim_items"), "item_sk") if r["is_current"]]

    t_late = at(D1, 15, 30)  # between e1 and e2
    late = item_row("late", t_late, "Shoe X", "9.50")
    write_partitions(lake, "fact_event_items", [*BASE_ITEMS, late])
    build_dim_items(lake, settings)

    # Shoe [T1, late) | Shoe X [late, T2) | Shoe [T2, T3) | Shoe 2 [T3, T4) | Shoe [T4, -)
    assert versions(lake, "A1") == [
        ("Shoe", T1, t_late, False, T1, T1, Decimal("10.00")),
        ("Shoe X", t_late, T2, False, t_late, t_late, Decimal("9.50")),
        ("Shoe", T2, T3, False, T2, T2, Decimal("12.00")),
        ("Shoe 2", T3, T4, False, T3, T3, Decimal("13.00")),
        ("Shoe", T4, None, True, T4, T5, Decimal("11.00")),
    ]
    # Versions that did not change keep their surrogate keys.
    after = [r for r in read_rows(lake.table_file("dim_items"), "item_sk") if r["is_current"]]
    assert [r["item_sk"] for r in after] == [r["item_sk"] for r in current_sk]


def event_row(
    event_id: str, user: str, when: datetime, name: str, platform: str, session: str
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": user,
        "session_id": session,
        "event_name": name,
        "event_timestamp": when,
        "event_date": when.date(),
        "platform": platform,
    }


def purchase_item(event: dict[str, Any], index: int, item_id: str, total: str) -> dict[str, Any]:
    return {
        "event_item_id": f"{event['event_id']}:{index}",
        "event_id": event["event_id"],
        "event_date": event["event_date"],
        "event_timestamp": event["event_timestamp"],
        "user_id": event["user_id"],
        "session_id": event["session_id"],
        "event_name": event["event_name"],
        "item_id": item_id,
        "total_price": Decimal(total),
    }


def test_dim_users_totals_and_platforms(lake: Lake, settings: Settings) -> None:
    u1_view = event_row("u1-a", "u1", at(D1, 15), "view_item_list", "IOS", "s1")
    u1_buy = event_row("u1-b", "u1", at(D1, 15, 10), "purchase", "IOS", "s1")
    u1_refund = event_row("u1-c", "u1", at(D2, 15), "refund", "ANDROID", "s2")
    u1_buy2 = event_row("u1-d", "u1", at(D2, 15, 5), "purchase", "UNKNOWN", "s2")
    # Same instant as u1-d: the tie goes to the larger event_id, so u1's last platform is UNKNOWN.
    u1_tie = event_row("u1-0", "u1", at(D2, 15, 5), "screen_view", "WEB", "s2")
    u2_first = event_row("u2-a", "u2", at(D2, 16), "screen_view", "UNKNOWN", "s9")
    u2_buy = event_row("u2-b", "u2", at(D3, 16), "purchase", "IOS", "s9")  # no items
    write_partitions(
        lake, "fact_events", [u1_view, u1_buy, u1_refund, u1_buy2, u1_tie, u2_first, u2_buy]
    )
    write_partitions(
        lake,
        "fact_event_items",
        [
            purchase_item(u1_buy, 0, "P1", "20.00"),
            purchase_item(u1_buy, 1, "P2", "5.50"),
            purchase_item(u1_refund, 0, "P1", "20.00"),
            purchase_item(u1_buy2, 0, "P3", "3.00"),
        ],
    )

    assert build_dim_users(lake, settings) == 2

    users = read_rows(lake.table_file("dim_users"), "user_id")
    assert users == [
        {
            "user_sk": hashlib.md5(b"u1").hexdigest(),
            "user_id": "u1",
            "first_seen_at": at(D1, 15),
            "last_seen_at": at(D2, 15, 5),
            "first_platform": "IOS",
            "last_platform": "UNKNOWN",
            "total_sessions": 2,  # s1, s2
            "total_events": 5,
            "total_purchases": 2,  # u1-b, u1-d
            "total_revenue": Decimal("28.50"),  # 20.00 + 5.50 + 3.00; the refund is not subtracted
        },
        {
            "user_sk": hashlib.md5(b"u2").hexdigest(),
            "user_id": "u2",
            "first_seen_at": at(D2, 16),
            "last_seen_at": at(D3, 16),
            "first_platform": "UNKNOWN",
            "last_platform": "IOS",
            "total_sessions": 1,
            "total_events": 2,
            "total_purchases": 1,
            "total_revenue": Decimal("0.00"),  # a purchase without items: 0, not NULL
        },
    ]


def test_dims_rebuild_gives_identical_files(lake: Lake, settings: Settings) -> None:
    write_partitions(lake, "fact_event_items", BASE_ITEMS)
    write_partitions(
        lake,
        "fact_events",
        [event_row(f"e{i}", f"u{i % 2}", at(D1, 15, i), "view_item", "IOS", "s") for i in range(5)],
    )

    def rebuild() -> list[bytes]:
        build_dim_items(lake, settings)
        build_dim_users(lake, settings)
        return [lake.table_file(table).read_bytes() for table in ("dim_items", "dim_users")]

    assert rebuild() == rebuild()


def test_dims_without_facts_are_empty_tables(lake: Lake, settings: Settings) -> None:
    assert build_dim_items(lake, settings) == 0
    assert build_dim_users(lake, settings) == 0
    assert read_rows(lake.table_file("dim_users"), "user_id") == []


def comparable(version: tuple) -> tuple:
    """Sort key for version tuples that holds NULLs and both kinds of UTC datetime."""
    return tuple(
        (v is not None, v.timestamp() if isinstance(v, datetime) else str(v)) for v in version
    )


def scd2_oracle(rows: list[dict[str, Any]]) -> list[tuple]:
    """docs/tables.md's dim_items rule, row by row in plain Python."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_item[row["item_id"]].append(row)
    result = []
    for item_id, item_rows in by_item.items():
        item_rows.sort(key=lambda r: (r["event_timestamp"], r["event_id"], r["event_item_id"]))
        runs: list[list[dict[str, Any]]] = []
        for row in item_rows:
            triple = (row["item_name"], row["item_brand"], row["item_category"])
            if (
                runs
                and (
                    runs[-1][0]["item_name"],
                    runs[-1][0]["item_brand"],
                    runs[-1][0]["item_category"],
                )
                == triple
            ):
                runs[-1].append(row)
            else:
                runs.append([row])
        for i, run in enumerate(runs):
            valid_to = runs[i + 1][0]["event_timestamp"] if i + 1 < len(runs) else None
            prices = [r["price"] for r in run if r["price"] is not None]
            result.append(
                (
                    item_id,
                    run[0]["item_name"],
                    run[0]["item_brand"],
                    run[0]["item_category"],
                    run[0]["event_timestamp"],
                    valid_to,
                    valid_to is None,
                    run[-1]["event_timestamp"],
                    prices[-1] if prices else None,
                )
            )
    return sorted(result, key=comparable)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dim_items_matches_the_row_by_row_rule_on_random_rows(
    lake: Lake, settings: Settings, seed: int
) -> None:
    # Few instants, names and prices, so ties, renames within a day and across days are common.
    rng = random.Random(seed)
    instants = [
        at(day, hour, minute) for day in (D1, D2, D3) for hour in (15, 20) for minute in (0, 1)
    ]
    rows = []
    for n in range(300):
        when = rng.choice(instants)
        rows.append(
            {
                **item_row(
                    f"e{rng.randrange(100):02d}",
                    when,
                    rng.choice(["Cup", "Mug", None]),
                    rng.choice(["1.00", "2.00", "3.00", None]),
                    item_id=rng.choice(["A1", "B1", "C1", "D1"]),
                ),
                "event_item_id": f"e{n}",
                "item_category": rng.choice(["Kitchen", None]),
            }
        )
    write_partitions(lake, "fact_event_items", rows)

    build_dim_items(lake, settings)

    built = read_rows(lake.table_file("dim_items"), "item_sk")
    assert len({r["item_sk"] for r in built}) == len(built)
    columns = ("item_id", "item_name", "item_brand", "item_category", "valid_from", "valid_to")
    columns += ("is_current", "last_seen_at", "last_price")
    assert sorted((tuple(r[c] for c in columns) for r in built), key=comparable) == scd2_oracle(
        rows
    )
