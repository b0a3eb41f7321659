"""The simulator: reproducible, faithful to the contract, realistic, and usable from the CLI."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import boto3
import pytest

from nelo_assets.contract import REASON_CODES, Event, parse_message
from nelo_assets.ingestion.landing import iter_landing_files, read_landing_file
from nelo_assets.simulation.cli import (
    PublishError,
    SimulatedMessage,
    SimulationConfig,
    generate_messages,
    publish_to_sqs,
    write_archive,
)

START = date(2026, 3, 2)
TZ = "America/Mexico_City"
LISTS = {"Trending", "Recommended for You", "Deals of the Day", "Recently Viewed", "Search Results"}
# Faults are frequent here so that a small run holds every reason code many times.
FAULTY = SimulationConfig(
    seed=11,
    start=START,
    days=2,
    events_per_day=1_500,
    users=300,
    malformed_rate=0.25,
    duplicate_rate=0.05,
    late_rate=0.05,
)
REALISTIC = SimulationConfig(seed=5, start=START, days=2, events_per_day=3_000)


@dataclass(frozen=True)
class Outcome:
    message: SimulatedMessage
    whole: str | None  # reason of a wholly quarantined message
    members: dict[int, str]  # batch_index -> "valid" or reason
    events: list[Event]


def _parse(config: SimulationConfig) -> list[Outcome]:
    outcomes = []
    for message in generate_messages(config):
        parsed = parse_message(
            message.message_id,
            message.received_at,
            message.body,
            timezone=config.timezone,
            start_date=config.start,
        )
        whole = [q.reason for q in parsed.quarantined if q.batch_index is None]
        members = {q.batch_index: q.reason for q in parsed.quarantined if q.batch_index is not None}
        members.update({e.batch_index: "valid" for e in parsed.events})
        outcomes.append(Outcome(message, whole[0] if whole else None, members, parsed.events))
    return outcomes


@pytest.fixture(scope="module")
def faulty() -> list[Outcome]:
    return _parse(FAULTY)


@pytest.fixture(scope="module")
def realistic() -> list[Outcome]:
    return _parse(REALISTIC)


@pytest.fixture(scope="module")
def unique_events(realistic: list[Outcome]) -> list[Event]:
    """Valid events, one per event_id (the first received), ordered by event time."""
    seen: dict[str, Event] = {}
    for outcome in realistic:
        for event in outcome.events:
            seen.setdefault(event.event_id, event)
    return sorted(seen.values(), key=lambda e: (e.event_timestamp, e.event_id))


def _raw_events(outcomes: list[Outcome]) -> Iterator[dict[str, Any]]:
    for outcome in outcomes:
        if outcome.message.expected == "valid":
            body = json.loads(outcome.message.body)
            yield from body.get("events", [body])


def _time(value: str | int) -> datetime:
    """An event time read by hand from any of the three wire forms."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    micros = value if value >= 10**15 else value * 1000
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


# --- reproducibility ------------------------------------------------------------------------


def test_same_seed_gives_identical_messages_and_another_seed_does_not() -> None:
    config = SimulationConfig(seed=3, start=START, days=1, events_per_day=600, users=100)
    first = list(generate_messages(config))
    assert first == list(generate_messages(config))
    other = list(generate_messages(replace(config, seed=4)))
    assert {m.body for m in first}.isdisjoint({m.body for m in other})
    assert {m.message_id for m in first}.isdisjoint({m.message_id for m in other})


def test_fault_rates_do_not_change_the_underlying_traffic() -> None:
    clean = SimulationConfig(seed=3, start=START, days=1, events_per_day=400, malformed_rate=0)
    faulty = replace(clean, malformed_rate=0.3)
    valid_bodies = {m.body for m in generate_messages(faulty) if m.expected == "valid"}
    clean_bodies = {m.body for m in generate_messages(clean)}
    assert valid_bodies and valid_bodies < clean_bodies


# --- fed through the contract ---------------------------------------------------------------


def test_every_message_parses_exactly_as_designed(faulty: list[Outcome]) -> None:
    for outcome in faulty:
        message = outcome.message
        if message.expected_events:
            assert outcome.whole is None, message.body[:200]
            expected = dict(enumerate(message.expected_events))
            assert outcome.members == expected, message.body[:300]
            faults = [code for code in message.expected_events if code != "valid"]
            assert faults == ([] if message.expected == "valid" else [message.expected])
        else:
            assert outcome.whole == message.expected != "valid"
            assert outcome.members == {}


def test_every_reason_code_is_produced(faulty: list[Outcome]) -> None:
    produced = Counter(o.whole for o in faulty if o.whole) + Counter(
        reason for o in faulty for reason in o.members.values() if reason != "valid"
    )
    assert set(produced) == set(REASON_CODES)
    assert min(produced.values()) >= 3
    valid = sum(1 for o in faulty for reason in o.members.values() if reason == "valid")
    assert valid > 5 * sum(produced.values())  # faults spoil one member, not whole batches


def test_sqs_transport_sends_only_what_sqs_can_carry() -> None:
    config = replace(FAULTY, transport="sqs", days=1)
    messages = list(generate_messages(config))
    assert {m.expected for m in messages} >= {"invalid_json", "invalid_shape", "missing_field"}
    for message in messages:
        message.body.decode("utf-8")  # raises on invalid UTF-8
        assert len(message.body) <= 256 * 1024
        assert message.receive_count == 1
    assert len({m.message_id for m in messages}) == len(messages)


# --- realism ----------------------------------------------------------------------------------


def test_receipts_follow_event_times_with_late_uploads_and_duplicates(
    realistic: list[Outcome],
) -> None:
    delays = []
    for outcome in realistic:
        times = [e.event_timestamp for e in outcome.events]
        if times:
            delays.append(outcome.message.received_at - max(times))
            assert outcome.message.received_at >= max(times)
    assert max(delays) > timedelta(hours=20)  # some uploads wait a day or more
    assert sorted(delays)[len(delays) // 2] < timedelta(seconds=5)  # most go out at once
    received = [o.message.received_at for o in realistic]
    assert received == sorted(received)
    ids = Counter(o.message.message_id for o in realistic)
    bodies = Counter(o.message.body for o in realistic)
    redelivered = [o.message for o in realistic if ids[o.message.message_id] > 1]
    assert redelivered and {m.receive_count for m in redelivered} == {1, 2}
    assert sum(1 for n in bodies.values() if n > 1) > len(redelivered) // 2  # app retries too


def test_sessions_are_seconds_apart_inside_and_over_30_minutes_apart_between(
    unique_events: list[Event],
) -> None:
    by_user: dict[str, list[datetime]] = defaultdict(list)
    for event in unique_events:
        by_user[event.user_id].append(event.event_timestamp)
    gaps = [b - a for times in by_user.values() for a, b in pairwise(times)]
    inside = [g for g in gaps if g <= timedelta(minutes=2)]
    between = [g for g in gaps if g > timedelta(minutes=30)]
    assert len(inside) + len(between) == len(gaps)
    assert len(between) > 100 and len(inside) > 10 * len(between) / 2
    assert len(by_user) > 500


def test_traffic_peaks_in_the_mexico_city_evening(unique_events: list[Event]) -> None:
    hours = Counter(e.event_timestamp.astimezone(ZoneInfo(TZ)).hour for e in unique_events)
    evening = sum(hours[h] for h in range(18, 23))
    small_hours = sum(hours[h] for h in range(1, 6))
    assert evening > 5 * small_hours > 0


def test_volume_is_close_to_events_per_day(unique_events: list[Event]) -> None:
    per_day = Counter(e.event_date for e in unique_events)
    assert set(per_day) == {START, START + timedelta(days=1)}
    for count in per_day.values():
        assert 0.9 * REALISTIC.events_per_day < count < 1.1 * REALISTIC.events_per_day


def test_platforms_and_event_names(unique_events: list[Event]) -> None:
    platforms = Counter(e.platform for e in unique_events)
    assert platforms["ANDROID"] > platforms["WEB"] and platforms["IOS"] > platforms["WEB"] > 0
    names = Counter(e.event_name for e in unique_events)
    assert names["view_item_list"] > names["select_item"]
    # view_item also follows push notifications, so it is not below select_item in the funnel.
    funnel = ["view_item", "add_to_cart", "begin_checkout", "purchase"]
    assert [names[n] for n in funnel] == sorted((names[n] for n in funnel), reverse=True)
    assert names["purchase"] > 0
    others = {"screen_view", "login", "search", "view_cart", "remove_from_cart"}
    assert others <= set(names)
    searches = [e for e in unique_events if e.event_name == "search"]
    assert all(e.search_term for e in searches)
    purchases = [e for e in unique_events if e.event_name == "purchase"]
    assert all(e.transaction_id and e.value and e.value > 0 for e in purchases)
    assert {e.currency for e in unique_events} == {"MXN"}


def test_refunds_follow_a_purchase_of_the_same_user() -> None:
    # Few users, so buyers come back (a refund is sent at the buyer's next session).
    config = SimulationConfig(seed=2, start=START, days=3, events_per_day=1_500, users=50)
    purchases: dict[str, tuple[str, datetime]] = {}
    refunds = 0
    messages = [m for m in generate_messages(config) if m.expected == "valid"]
    events = sorted(
        (e for m in messages for e in _members(m)), key=lambda e: _time(e["event_timestamp"])
    )
    for event in events:
        params = event["event_params"]
        if isinstance(params, list):
            params = {p["key"]: next(iter(p["value"].values())) for p in params}
        if event["event_name"] == "purchase":
            purchases[params["transaction_id"]] = (
                event["user_id"],
                _time(event["event_timestamp"]),
            )
        elif event["event_name"] == "refund":
            user_id, bought_at = purchases[params["transaction_id"]]
            assert user_id == event["user_id"]
            assert _time(event["event_timestamp"]) - bought_at > timedelta(minutes=30)
            refunds += 1
    assert 0 < refunds < len(purchases) / 4


def test_every_wire_form_of_the_contract_appears(realistic: list[Outcome]) -> None:
    seen: Counter[str] = Counter()
    for outcome in realistic:
        seen["batch" if b'{"events":[' in outcome.message.body[:12] else "single"] += 1
    for event in _raw_events(realistic):
        stamp = event["event_timestamp"]
        if isinstance(stamp, int):
            seen["micros" if stamp >= 10**15 else "millis"] += 1
        else:
            seen["iso_z" if stamp.endswith("Z") else "iso_offset"] += 1
        seen["ga4_params" if isinstance(event["event_params"], list) else "object_params"] += 1
        seen["no_event_id"] += "event_id" not in event
        seen["no_platform"] += "platform" not in event
        params = event["event_params"]
        event_list = (
            any(p["key"] == "item_list_name" for p in params)
            if isinstance(params, list)
            else "item_list_name" in params
        )
        items = event.get("items", [])
        on_items = any("item_list_name" in item for item in items)
        if items and event_list and not on_items:
            seen["list_event_level_only"] += 1
        if on_items and not event_list:
            seen["list_on_items_only"] += 1
        if event["event_name"] == "add_to_cart" and not event_list and not on_items:
            seen["add_to_cart_without_list"] += 1
        for item in items:
            seen["numeric_item_id"] += isinstance(item["item_id"], int)
            seen["string_price"] += isinstance(item.get("price"), str)
            seen["in_stock_field"] += "in_stock" in item
            seen["discounts_field"] += "discounts" in item
            inner = item.get("item_params", {})
            keys = {p["key"] for p in inner} if isinstance(inner, list) else set(inner)
            seen["in_stock_in_item_params"] += "in_stock" in keys
            seen["discounts_in_item_params"] += "discounts" in keys
            seen["discount"] += "discount" in item
            seen["coupon"] += "coupon" in item
            seen["index"] += "index" in item
    forms = [
        "batch",
        "single",
        "micros",
        "millis",
        "iso_z",
        "iso_offset",
        "ga4_params",
        "object_params",
        "no_event_id",
        "no_platform",
        "list_event_level_only",
        "list_on_items_only",
        "add_to_cart_without_list",
        "numeric_item_id",
        "string_price",
        "in_stock_field",
        "in_stock_in_item_params",
        "discounts_field",
        "discounts_in_item_params",
        "discount",
        "coupon",
        "index",
    ]
    assert [form for form in forms if seen[form] == 0] == []


def test_lists_tell_different_stories(unique_events: list[Event]) -> None:
    impressions: Counter[str] = Counter()
    clicks: Counter[str] = Counter()
    carts: Counter[str] = Counter()
    last_click: dict[tuple[str, str], str] = {}
    for event in unique_events:
        for item in event.items:
            if event.event_name == "view_item_list":
                impressions[item.item_list_name or ""] += 1
            elif event.event_name == "select_item":
                clicks[item.item_list_name or ""] += 1
                last_click[(event.user_id, item.item_id)] = item.item_list_name or ""
            elif event.event_name == "add_to_cart" and (event.user_id, item.item_id) in last_click:
                carts[last_click[(event.user_id, item.item_id)]] += 1
    assert set(impressions) == set(clicks) == LISTS
    click_rate = {name: clicks[name] / impressions[name] for name in LISTS}
    cart_rate = {name: carts[name] / clicks[name] for name in LISTS}
    assert max(click_rate, key=click_rate.__getitem__) == "Recently Viewed"
    assert max(cart_rate, key=cart_rate.__getitem__) == "Deals of the Day"
    assert max(impressions, key=impressions.__getitem__) == "Trending"


def test_items_carry_the_catalogue_as_it_was_at_event_time(unique_events: list[Event]) -> None:
    versions: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    prices: dict[str, set[Any]] = defaultdict(set)
    for event in unique_events:
        for item in event.items:
            assert item.item_name and item.item_brand and item.item_category
            triple = (item.item_name, item.item_brand, item.item_category)
            if not versions[item.item_id] or versions[item.item_id][-1] != triple:
                versions[item.item_id].append(triple)
            if item.discount == 0:
                prices[item.item_id].add(item.price)
    assert 250 <= len(versions) <= 300
    renamed = [item for item, runs in versions.items() if len(runs) > 1]
    # Renames are rare, real changes at one instant: never a flip-flop between two names.
    assert 1 <= len(renamed) <= 30
    assert all(len(versions[item]) <= 3 for item in renamed)
    assert any(len(p) > 1 for p in prices.values())


# --- outputs ----------------------------------------------------------------------------------


def test_archive_round_trip(tmp_path: Path) -> None:
    config = replace(FAULTY, days=1, events_per_day=600, duplicate_rate=0.2)
    summary = write_archive(config, tmp_path / "landing", batch_size=100)
    landed = [
        m for path in iter_landing_files(tmp_path / "landing") for m in read_landing_file(path)
    ]
    generated = list(generate_messages(config))
    assert summary.messages == len(landed) == len(generated)
    assert len(summary.files) == len(list(iter_landing_files(tmp_path / "landing"))) > 1
    assert summary.events == sum(len(m.expected_events) for m in generated)
    assert [(m.message_id, m.received_at, m.body, m.receive_count) for m in landed] == [
        (m.message_id, m.received_at, m.body, m.receive_count) for m in generated
    ]
    assert any(m.receive_count == 2 for m in landed)
    for path in summary.files:
        year, month, day = path.parent.parts[-3:]
        folder = date(int(year), int(month), int(day))
        assert {m.received_at.astimezone(UTC).date() for m in read_landing_file(path)} == {folder}
    # Same names, same content (the gzip header itself records the temporary file name).
    content_before = {p.name: gzip.decompress(p.read_bytes()) for p in summary.files}
    again = write_archive(config, tmp_path / "again", batch_size=100)
    assert {p.name: gzip.decompress(p.read_bytes()) for p in again.files} == content_before


def test_begin_and_end_bound_events_and_receipts() -> None:
    tz = ZoneInfo(TZ)
    begin = datetime(2026, 3, 2, 18, 0, tzinfo=tz)
    end = datetime(2026, 3, 2, 20, 0, tzinfo=tz)
    config = replace(REALISTIC, days=1, begin=begin, end=end, late_rate=0.2)
    messages = list(generate_messages(config))
    assert messages and all(begin <= m.received_at <= end for m in messages)
    times = [_time(e["event_timestamp"]) for m in messages for e in _members(m)]
    assert min(times) >= begin and max(times) < end
    assert max(times) - min(times) > timedelta(minutes=90)


def _members(message: SimulatedMessage | str) -> list[dict[str, Any]]:
    body = json.loads(message if isinstance(message, str) else message.body)
    return body.get("events", [body])


# --- SQS (moto server over HTTP) --------------------------------------------------------------


@pytest.fixture
def queue_url(sqs_endpoint: str) -> str:
    return boto3.client("sqs").create_queue(QueueName=f"sim-{uuid4().hex[:12]}")["QueueUrl"]


def _drain(url: str) -> list[str]:
    client, bodies = boto3.client("sqs"), []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        if not got.get("Messages"):
            return bodies
        bodies.extend(m["Body"] for m in got["Messages"])
        client.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(got["Messages"])
            ],
        )


def test_publish_sends_the_simulated_bodies_at_the_requested_rate(queue_url: str) -> None:
    config = replace(FAULTY, days=1)
    started = time.monotonic()
    sent = publish_to_sqs(config, queue_url, rate=400, max_events=120, progress=False)
    elapsed = time.monotonic() - started
    expected, events = [], 0
    for message in generate_messages(replace(config, transport="sqs")):
        if events >= 120:
            break
        expected.append(message.body.decode("utf-8"))
        events += message.event_count
    assert sent == len(expected) and sorted(_drain(queue_url)) == sorted(expected)
    assert elapsed >= (events - 20) / 400  # the last message's events are not waited for


def test_publish_in_real_time_sends_only_what_is_due(queue_url: str) -> None:
    now = datetime.now(UTC)
    config = replace(
        REALISTIC,
        start=(now - timedelta(days=1)).date(),
        days=3,
        begin=now - timedelta(hours=1),
        end=now + timedelta(minutes=2),
    )
    sent = publish_to_sqs(config, queue_url, realtime=True, duration=1.0, progress=False)
    bodies = _drain(queue_url)
    due = [m for m in generate_messages(replace(config, transport="sqs"))]
    already = [m for m in due if m.received_at <= now]
    soon = [m for m in due if m.received_at <= now + timedelta(seconds=30)]
    assert len(already) <= sent == len(bodies) <= len(soon)
    assert len(already) > 0


def test_publish_to_a_missing_queue_fails_in_one_line(sqs_endpoint: str) -> None:
    url = f"{sqs_endpoint}/123456789012/no-such-queue"
    with pytest.raises(PublishError) as error:
        publish_to_sqs(FAULTY, url, max_events=5, progress=False)
    assert "no-such-queue" in str(error.value) and "\n" not in str(error.value)


# --- the command line -------------------------------------------------------------------------


def test_cli_live_traffic_is_stamped_with_the_current_time(queue_url: str) -> None:
    started = datetime.now(UTC)
    args = ["--rate", "500", "--users", "3000", "--duration", "3", "--malformed-rate", "0"]
    args += ["--queue-url", queue_url]
    result = _cli("sqs", *args)
    finished = datetime.now(UTC)
    assert result.returncode == 0, result.stderr
    bodies = _drain(queue_url)
    assert result.stdout.startswith(f"sent {len(bodies)} messages") and bodies
    for body in bodies:
        for event in _members(body):
            assert started <= _time(event["event_timestamp"]) <= finished


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nelo_assets.simulation.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_help_names_the_subcommands_and_their_defaults() -> None:
    top = _cli("--help")
    assert top.returncode == 0 and "archive" in top.stdout and "sqs" in top.stdout
    archive = _cli("archive", "--help")
    assert archive.returncode == 0 and "--events-per-day" in archive.stdout
    assert "default: 20000" in archive.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["archive", "--out", "x", "--start", "2026-02-30"],
        ["archive", "--out", "x", "--days", "-1"],
        ["archive", "--out", "x", "--duplicate-rate", "1.5"],
        ["archive", "--out", "x", "--events-per-day", "many"],
        ["archive", "--bogus"],
        ["sqs", "--queue-url", "http://q", "--rate", "0"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str]) -> None:
    result = _cli(*args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in result.stderr


def test_cli_writes_an_archive_and_reports_runtime_errors_in_one_line(tmp_path: Path) -> None:
    ok = _cli("archive", "--out", str(tmp_path / "landing"), "--days", "1", "--events-per-day", "200", "--start", "2026-03-02")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    landed = sum(1 for p in iter_landing_files(tmp_path / "landing") for _ in read_landing_file(p))
    assert f"wrote {landed} messages" in ok.stdout
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    failed = _cli("archive", "--out", str(blocker / "landing"), "--days", "1", "--events-per-day", "50")  # fmt: skip
    down = _cli(
        "sqs", "--queue-url", "http://127.0.0.1:9/123456789012/q", "--events", "5",
        env={"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9", "AWS_DEFAULT_REGION": "us-east-1",
             "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"},
    )  # fmt: skip
    for result in (failed, down):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 1
        assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in result.stderr
