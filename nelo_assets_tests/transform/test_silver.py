"""Silver from hand-made bronze rows: every verdict, value and count here is worked out by hand."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.tables import QUARANTINE, SILVER_EVENTS, SILVER_ITEMS
from nelo_assets.transform.silver import SilverResult, build_silver_partition
from nelo_assets_tests.rows import read_rows
from nelo_assets_tests.transform.silver_input import (
    EVENT_DATE,
    FAULTS,
    RECEIVED,
    bronze_row,
    raw_event,
    write_bronze,
)


def build(lake: Lake) -> tuple[SilverResult, list[dict], list[dict], list[dict]]:
    """Build EVENT_DATE; return the result and the (events, items, quarantine) rows written."""
    result = build_silver_partition(lake, Settings.from_env({}), EVENT_DATE)
    return (
        result,
        read_rows(lake.partition_file("silver_events", EVENT_DATE)),
        read_rows(lake.partition_file("silver_items", EVENT_DATE)),
        read_rows(lake.silver_quarantine_file(EVENT_DATE)),
    )


def one_event(lake: Lake, body: dict[str, Any]) -> tuple[dict, list[dict]]:
    """Silver of a one-event partition: its silver_events row and its items by index."""
    write_bronze(lake, [bronze_row(body, "m1")])
    _, events, items, quarantine = build(lake)
    assert quarantine == [], quarantine
    assert len(events) == 1
    return events[0], sorted(items, key=lambda row: row["item_index"])


# --- validity -----------------------------------------------------------------------------------


def test_each_fault_is_quarantined_with_its_reason_and_detail(lake: Lake) -> None:
    rows = [bronze_row(body, f"m{n:02d}") for n, (body, _, _) in enumerate(FAULTS)]
    write_bronze(lake, rows)

    result, events, items, quarantine = build(lake)

    assert (events, items) == ([], [])
    assert result == SilverResult(len(FAULTS), 0, 0, len(FAULTS), 0)
    by_message = {row["message_id"]: row for row in quarantine}
    for n, (body, reason, words) in enumerate(FAULTS):
        row = by_message[f"m{n:02d}"]
        assert (row["reason"], row["stage"]) == (reason, "silver"), (body, row["detail"])
        assert words in row["detail"], (body, row["detail"])
        assert row["raw"] == json.dumps(body)
        assert (row["batch_index"], row["event_date"], row["received_at"]) == (
            0,
            EVENT_DATE,
            RECEIVED,
        )


def test_an_event_with_one_bad_item_is_quarantined_whole(lake: Lake) -> None:
    good = raw_event(event_id="good", items=[{"item_id": "a"}, {"item_id": "b"}])
    bad = raw_event(event_id="bad", items=[{"item_id": "a"}, {"item_id": "b", "quantity": -1}])
    write_bronze(lake, [bronze_row(good, "m1"), bronze_row(bad, "m2")])

    result, events, items, quarantine = build(lake)

    assert [row["event_id"] for row in events] == ["good"]
    assert sorted(row["item_record_id"] for row in items) == ["good:0", "good:1"]
    assert [(row["message_id"], row["reason"]) for row in quarantine] == [("m2", "invalid_item")]
    assert result == SilverResult(
        bronze_rows=2, events=1, items=2, quarantined=1, duplicates_removed=0
    )


# --- duplicates and event ids -------------------------------------------------------------------


def test_first_received_copy_of_an_event_id_wins(lake: Lake) -> None:
    base = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)
    copies = [
        # (message_id, batch_index, received_at, body); the winner is m-b/1: earliest receipt,
        # then message_id, then batch_index
        ("m-c", 0, base, raw_event(event_id="e1", app_version="c")),
        ("m-b", 2, base, raw_event(event_id="e1", app_version="b2")),
        ("m-b", 1, base, raw_event(event_id="e1", app_version="b1")),
        ("m-a", 0, base + timedelta(seconds=1), raw_event(event_id="e1", app_version="a")),
        # an invalid copy received first does not compete: it is quarantined
        ("m-0", 0, base - timedelta(hours=1), raw_event(event_id="e1", user_id=5)),
    ]
    write_bronze(
        lake, [bronze_row(body, m, batch_index=b, received_at=t) for m, b, t, body in copies]
    )

    result, events, _, quarantine = build(lake)

    assert [(row["message_id"], row["batch_index"], row["app_version"]) for row in events] == [
        ("m-b", 1, "b1")
    ]
    assert [row["message_id"] for row in quarantine] == ["m-0"]
    assert result == SilverResult(
        bronze_rows=5, events=1, items=0, quarantined=1, duplicates_removed=3
    )


def test_event_id_is_derived_from_message_id_and_batch_index(lake: Lake) -> None:
    write_bronze(
        lake,
        [
            bronze_row(raw_event(), "msg-7", batch_index=3),
            # the same body again in another message is another event
            bronze_row(raw_event(), "msg-8", batch_index=0),
        ],
    )

    result, events, _, _ = build(lake)

    expected = {
        hashlib.md5(b"msg-7:3").hexdigest(),
        hashlib.md5(b"msg-8:0").hexdigest(),
    }
    assert {row["event_id"] for row in events} == expected
    assert result.events == 2


def test_a_bronze_row_stored_twice_counts_once(lake: Lake) -> None:
    row = bronze_row(raw_event(event_id="e1"), "m1")
    write_bronze(lake, [row], name="batch-0")
    write_bronze(lake, [{**row, "landing_batch": "batch-1"}], name="batch-1")

    result, events, _, _ = build(lake)

    assert len(events) == 1
    assert result == SilverResult(
        bronze_rows=1, events=1, items=0, quarantined=0, duplicates_removed=0
    )


# --- flattening ---------------------------------------------------------------------------------


def test_both_param_forms_flatten_alike(lake: Lake) -> None:
    params = {
        "item_list_id": "L1",
        "item_list_name": "Ofertas",
        "currency": "USD",
        "value": 12.5,
        "transaction_id": "T-9",
        "search_term": "tenis",
        "page": 3,
    }
    ga4 = [
        {"key": "item_list_id", "value": {"string_value": "L1"}},
        {"key": "item_list_name", "value": {"string_value": "Ofertas", "int_value": None}},
        {"key": "currency", "value": {"string_value": "USD"}},
        {"key": "value", "value": {"double_value": 12.5}},
        {"key": "transaction_id", "value": {"string_value": "T-9"}},
        {"key": "search_term", "value": {"string_value": "tenis"}},
        {"key": "page", "value": {"int_value": "3"}},
    ]
    write_bronze(
        lake,
        [
            bronze_row(raw_event(event_id="obj", event_params=params), "m1"),
            bronze_row(raw_event(event_id="ga4", event_params=ga4), "m2"),
        ],
    )

    _, events, _, quarantine = build(lake)

    assert quarantine == []
    for row in events:
        assert (
            row["item_list_id"],
            row["item_list_name"],
            row["currency"],
            row["value"],
            row["transaction_id"],
            row["search_term"],
        ) == ("L1", "Ofertas", "USD", Decimal("12.50"), "T-9", "tenis"), row["event_id"]
        assert json.loads(row["event_params"]) == params, row["event_id"]


def test_a_repeated_ga4_key_keeps_its_last_value(lake: Lake) -> None:
    ga4 = [
        {"key": "item_list_name", "value": {"string_value": "first"}},
        {"key": "item_list_name", "value": {"string_value": "last"}},
    ]
    row, _ = one_event(lake, raw_event(event_params=ga4))
    assert row["item_list_name"] == "last"
    assert json.loads(row["event_params"]) == {"item_list_name": "last"}


def test_defaults_and_platform(lake: Lake) -> None:
    bodies = {
        "a": raw_event(event_id="a", platform=" ios\t"),
        "b": raw_event(event_id="b", platform="Android", event_params={"currency": ""}),
        "c": raw_event(event_id="c", platform="tv", event_params={"currency": None}),
        "d": raw_event(event_id="d", platform=5),
        "e": raw_event(event_id="e", platform="web"),
    }
    write_bronze(lake, [bronze_row(body, f"m-{key}") for key, body in bodies.items()])

    _, events, _, _ = build(lake)

    got = {
        row["event_id"]: (row["platform"], row["currency"], row["event_params"]) for row in events
    }
    assert {key: value[:2] for key, value in got.items()} == {
        "a": ("IOS", "MXN"),
        "b": ("ANDROID", "MXN"),
        "c": ("UNKNOWN", "MXN"),
        "d": ("UNKNOWN", "MXN"),
        "e": ("WEB", "MXN"),
    }
    assert json.loads(got["a"][2]) == {}
    assert json.loads(got["c"][2]) == {"currency": None}


def test_item_list_fallback_is_per_field_and_skips_empty_strings(lake: Lake) -> None:
    body = raw_event(
        event_params={"item_list_id": "EV-ID", "item_list_name": "Event list"},
        items=[
            {"item_id": "a"},  # both from the event
            {"item_id": "b", "item_list_name": "Own list"},  # id from the event
            {"item_id": "c", "item_list_id": "", "item_list_name": ""},  # empty = absent
            {"item_id": "d", "item_list_id": "OWN-ID", "item_list_name": None},
        ],
    )
    _, items = one_event(lake, body)
    assert [(row["item_list_id"], row["item_list_name"]) for row in items] == [
        ("EV-ID", "Event list"),
        ("EV-ID", "Own list"),
        ("EV-ID", "Event list"),
        ("OWN-ID", "Event list"),
    ]


def test_empty_event_level_list_params_are_absent(lake: Lake) -> None:
    body = raw_event(
        event_params={"item_list_id": "", "item_list_name": ""}, items=[{"item_id": "a"}]
    )
    row, items = one_event(lake, body)
    assert (row["item_list_id"], row["item_list_name"]) == (None, None)
    assert (items[0]["item_list_id"], items[0]["item_list_name"]) == (None, None)


def test_in_stock_and_discounts_from_item_params_and_own_field_precedence(lake: Lake) -> None:
    body = raw_event(
        items=[
            # from item_params, object form
            {"item_id": "a", "item_params": {"in_stock": 1, "discounts": "SPRING, VIP "}},
            # from item_params, GA4 list form
            {
                "item_id": "b",
                "item_params": [
                    {"key": "in_stock", "value": {"int_value": 0}},
                    {"key": "discounts", "value": {"string_value": "X1"}},
                ],
            },
            # own fields win over item_params
            {
                "item_id": "c",
                "in_stock": True,
                "discounts": [" OWN", "", "  ", None],
                "item_params": {"in_stock": False, "discounts": "PARAM"},
            },
            # absent everywhere
            {"item_id": "d"},
            # a null own field counts as absent; anything but a boolean or 0/1 is unknown
            {"item_id": "e", "in_stock": None, "item_params": {"in_stock": "yes"}},
        ]
    )
    _, items = one_event(lake, body)
    assert [(row["in_stock"], row["discounts"]) for row in items] == [
        (True, "SPRING,VIP"),
        (False, "X1"),
        (True, "OWN"),
        (None, None),
        (None, None),
    ]
    assert json.loads(items[1]["item_params"]) == {"in_stock": 0, "discounts": "X1"}
    assert json.loads(items[3]["item_params"]) == {}


def test_item_values_numbers_strings_and_defaults(lake: Lake) -> None:
    body = raw_event(
        event_id="e1",
        items=[
            {
                "item_id": 123456,
                "item_name": "Tenis",
                "item_brand": "Marca",
                "item_category": "Calzado",
                "item_category2": "Hombre",
                "item_variant": "rojo",
                "coupon": "C1",
                "price": "12.50",
                "quantity": " 3 ",
                "discount": "0.5",
                "index": 4,
            },
            {"item_id": "sku-2", "price": 7, "item_name": 42},
        ],
    )
    row, items = one_event(lake, body)
    first, second = items
    assert row["item_count"] == 2
    assert (first["item_record_id"], first["event_id"], first["event_date"]) == (
        "e1:0",
        "e1",
        EVENT_DATE,
    )
    assert (first["item_id"], first["item_name"], first["item_brand"]) == (
        "123456",
        "Tenis",
        "Marca",
    )
    assert (first["item_category"], first["item_category2"], first["item_category3"]) == (
        "Calzado",
        "Hombre",
        None,
    )
    assert (first["item_variant"], first["coupon"], first["position_in_list"]) == ("rojo", "C1", 4)
    # 0.5 x 3 = 1.50
    assert (first["price"], first["quantity"], first["discount"], first["discount_amount"]) == (
        Decimal("12.50"),
        3,
        Decimal("0.50"),
        Decimal("1.50"),
    )
    # defaults: quantity 1, discount 0; a number where text is expected is kept as its JSON text
    assert (second["item_record_id"], second["item_id"], second["item_name"]) == (
        "e1:1",
        "sku-2",
        "42",
    )
    assert (second["price"], second["quantity"], second["discount"], second["discount_amount"]) == (
        Decimal("7.00"),
        1,
        Decimal("0.00"),
        Decimal("0.00"),
    )
    assert second["position_in_list"] is None


# --- the partition as a whole -------------------------------------------------------------------


def mixed_partition(lake: Lake) -> None:
    write_bronze(
        lake,
        [
            bronze_row(raw_event(event_id="e1", items=[{"item_id": "a"}, {"item_id": "b"}]), "m1"),
            bronze_row(raw_event(event_id="e1"), "m2"),  # duplicate, later message id
            bronze_row(raw_event(event_id="e2", items=[{"item_id": "c", "price": -1}]), "m3"),
            bronze_row(raw_event(items=[{"item_id": "d"}]), "m4", batch_index=2),
            bronze_row(raw_event(user_id=None), "m5"),
        ],
    )


def test_reconciliation_invariant(lake: Lake) -> None:
    mixed_partition(lake)

    result, events, items, quarantine = build(lake)

    # by hand: e1 (m1) and m4's event kept, m2 a duplicate, m3 and m5 quarantined
    assert result == SilverResult(
        bronze_rows=5, events=2, items=3, quarantined=2, duplicates_removed=1
    )
    assert result.bronze_rows == result.events + result.quarantined + result.duplicates_removed
    assert (len(events), len(items), len(quarantine)) == (2, 3, 2)


def test_rebuilding_a_partition_writes_the_same_rows(lake: Lake) -> None:
    mixed_partition(lake)
    paths = [
        lake.partition_file("silver_events", EVENT_DATE),
        lake.partition_file("silver_items", EVENT_DATE),
        lake.silver_quarantine_file(EVENT_DATE),
    ]
    build(lake)
    first = [sorted(map(repr, read_rows(path))) for path in paths]

    build(lake)

    assert [sorted(map(repr, read_rows(path))) for path in paths] == first
    # each file was replaced whole: nothing else is left in the partition folders
    assert all(sorted(p.name for p in path.parent.iterdir()) == ["part.parquet"] for path in paths)


def column_types(path: Path) -> list[tuple[str, str]]:
    return [
        (name, kind)
        for name, kind, *_ in duckdb.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{path}')"
        ).fetchall()
    ]


def test_an_empty_bronze_partition_gives_empty_typed_tables(lake: Lake) -> None:
    result, events, items, quarantine = build(lake)

    assert result == SilverResult(0, 0, 0, 0, 0)
    assert (events, items, quarantine) == ([], [], [])
    for path, schema in [
        (lake.partition_file("silver_events", EVENT_DATE), SILVER_EVENTS),
        (lake.partition_file("silver_items", EVENT_DATE), SILVER_ITEMS),
        (lake.silver_quarantine_file(EVENT_DATE), QUARANTINE),
    ]:
        got = [
            (name, kind.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"))
            for name, kind in column_types(path)
        ]
        assert got == [(c.name, c.type) for c in schema]
