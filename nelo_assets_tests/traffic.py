"""Test traffic: bodies built by hand in every shape SQS can carry, with what the contract says
must become of each, and the check that every event ended there exactly once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from nelo_assets.ingestion.bronze import read_bronze, read_quarantine
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.environment import LOCAL, TEST_START_DATE


@dataclass(frozen=True)
class Sent:
    """A body to send, and where each of its events must end up (computed from docs/events.md)."""

    body: str
    bronze: dict[int, date]  # batch_index -> event_date
    quarantine: dict[int | None, str]  # batch_index (None: the whole message) -> reason


def _local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 7, 30, tzinfo=LOCAL)


def _event(timestamp: object, n: int, **extra: object) -> dict[str, object]:
    return {
        "event_name": "view_item",
        "event_timestamp": timestamp,
        "user_id": f"user-{n}",
        **extra,
    }


def _single(event: dict[str, object], bronze_date: date | None = None, reason: str = "") -> Sent:
    return Sent(
        json.dumps(event),
        {0: bronze_date} if bronze_date else {},
        {} if bronze_date else {0: reason},
    )


def traffic(count: int, days: list[date], now: datetime) -> list[Sent]:
    """Bodies in every shape SQS can carry (all reasons but too_large, invalid_utf8): `count`
    shapes, so a few more bodies, as an app retry sends its body twice."""
    sent: list[Sent] = []
    for n in range(count):
        day = days[n % len(days)]
        # Late evening local time is the next UTC day: the date must come from the local clock.
        local = _local(day, 22 if n % 2 else 1)
        utc_text = local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        micros = int(local.timestamp()) * 1_000_000
        shape = n % 16
        if shape == 0:
            sent.append(_single(_event(local.isoformat(), n), day))
        elif shape == 1:
            sent.append(_single(_event(utc_text, n, event_id=f"e-{n}"), day))
        elif shape == 2:
            sent.append(_single(_event(micros, n, platform="ios"), day))
        elif shape == 3:
            sent.append(_single(_event(micros // 1000, n), day))
        elif shape == 4:  # a batch: good members on two dates, and every routing failure
            other = days[(n + 1) % len(days)]
            members = [
                _event(local.isoformat(), n),
                "not an object",
                _event(_local(other, 12).isoformat(), n),
                {"event_name": "login", "user_id": "u"},
                _event("yesterday", n),
                _event(1.5e15, n),
                _event("1700000000000", n),
                _event(999, n),
                _event(utc_text, n, user_id=None),  # no user: silver's problem, bronze keeps it
            ]
            sent.append(
                Sent(
                    json.dumps({"events": members}),
                    {0: day, 2: other, 8: day},
                    {
                        1: "invalid_shape",
                        3: "missing_field",
                        4: "invalid_timestamp",
                        5: "invalid_type",
                        6: "invalid_timestamp",
                        7: "invalid_timestamp",
                    },
                )
            )
        elif shape == 5:
            sent.append(Sent("{not json", {}, {None: "invalid_json"}))
        elif shape == 6:
            sent.append(Sent(json.dumps([_event(utc_text, n)]), {}, {None: "invalid_shape"}))
        elif shape == 7:
            sent.append(Sent(json.dumps({"events": []}), {}, {None: "invalid_shape"}))
        elif shape == 8:
            body = json.dumps({"events": [_event(utc_text, n)] * 501})
            sent.append(Sent(body, {}, {None: "invalid_shape"}))
        elif shape == 9:
            before_start = _local(TEST_START_DATE - timedelta(days=1), 12).isoformat()
            sent.append(_single(_event(before_start, n), reason="timestamp_out_of_range"))
        elif shape == 10:
            future = (now + timedelta(days=3)).isoformat()
            sent.append(_single(_event(future, n), reason="timestamp_out_of_range"))
        elif shape == 11:
            sent.append(_single({"event_name": "login", "user_id": "u"}, reason="missing_field"))
        elif shape == 12:  # too many items and a bad item: routable, so bronze keeps it
            items = [{"item_id": f"sku-{i}", "price": -1} for i in range(201)]
            sent.append(_single(_event(utc_text, n, items=items), day))
        elif shape == 13:  # near the SQS limit of 256 KiB
            event = _event(utc_text, n, event_params={"blob": ""})
            padding = 256 * 1024 - len(json.dumps(event)) - 64
            event["event_params"] = {"blob": "x" * padding}
            sent.append(_single(event, day))
        elif shape == 14:  # an app retry: the same body twice is two messages, two rows
            single = _single(_event(utc_text, n), day)
            sent.extend([single, single])
        else:
            sent.append(Sent(json.dumps("just a string"), {}, {None: "invalid_shape"}))
    return sent


def assert_exactly_once(lake: Lake, sent: list[Sent], message_ids: list[str]) -> None:
    """Every event is in bronze (right partition) or quarantine (right reason), once."""
    expected_bronze = {
        (mid, index): day
        for s, mid in zip(sent, message_ids, strict=True)
        for index, day in s.bronze.items()
    }
    expected_quarantine = {
        (mid, index): reason
        for s, mid in zip(sent, message_ids, strict=True)
        for index, reason in s.quarantine.items()
    }
    dates = sorted(set(expected_bronze.values()))
    bronze = read_bronze(lake, dates)
    got_bronze = {
        (row["message_id"], row["batch_index"]): row["event_date"]
        for row in bronze.iter_rows(named=True)
    }
    assert bronze.height == len(got_bronze), "a bronze row appears twice"
    assert got_bronze == expected_bronze
    on_disk = {
        date.fromisoformat(p.name.removeprefix("event_date="))
        for p in lake.table_dir("bronze_events").glob("event_date=*")
    }
    assert on_disk == set(dates)
    quarantine = read_quarantine(lake)
    got_quarantine = {
        (row["message_id"], row["batch_index"]): row["reason"]
        for row in quarantine.iter_rows(named=True)
    }
    assert quarantine.height == len(got_quarantine), "a quarantine row appears twice"
    assert got_quarantine == expected_quarantine
