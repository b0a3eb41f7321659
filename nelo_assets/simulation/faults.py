"""Broken uploads: each fault is built to produce exactly one reason code of docs/events.md.

A message-level fault spoils the whole body; an event-level fault spoils one member of the
upload and leaves the others valid. Every fault is a bug or accident seen in real apps.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from nelo_assets.simulation.config import VALID

MAX_BODY_BYTES = 256 * 1024
BAD_TEXT = "\u0000NELO-BAD-UTF8\u0000"  # replaced by Latin-1 bytes after encoding
DAY_US = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(members: list[dict[str, Any]], batch: bool) -> bytes:
    return dumps({"events": members} if batch else members[0]).encode("utf-8")


def _iso_z(t_us: int) -> str:
    return (
        (EPOCH + timedelta(microseconds=t_us))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _like(original: Any, t_us: int) -> str | int:
    """`t_us` in the same form as the original timestamp (ISO text, epoch ms or epoch µs)."""
    if isinstance(original, int):
        return t_us if original >= 10**15 else t_us // 1000
    return _iso_z(t_us)


def _time_of(value: Any) -> int:
    """Epoch µs of a timestamp this simulator wrote (any of its three forms)."""
    if isinstance(value, int):
        return value if value >= 10**15 else value * 1000
    moment = datetime.fromisoformat(value) - EPOCH
    return (moment.days * 86_400 + moment.seconds) * 1_000_000 + moment.microseconds


class FaultInjector:
    """Turns an upload into one faulty message; `rng` is used for faults only."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def build(
        self, code: str, members: list[dict[str, Any]], batch: bool, received_us: int
    ) -> tuple[bytes, tuple[str, ...]]:
        """(body, per-member expectations; empty when the whole message fails)."""
        whole: dict[str, Callable[[list[dict[str, Any]], bool], bytes | None]] = {
            "invalid_json": self._invalid_json,
            "invalid_utf8": self._invalid_utf8,
            "invalid_shape": self._invalid_shape,
            "too_large": self._too_large,
        }
        if code in whole:
            body = whole[code](members, batch)
            if body is not None:
                return body, ()
            # A batch got a non-object member instead: that member alone is invalid_shape.
            return encode(members, True), tuple(
                code if not isinstance(m, dict) else VALID for m in members
            )
        target = self.rng.randrange(len(members))
        if code == "invalid_item":
            with_items = [n for n, m in enumerate(members) if m.get("items")]
            target = self.rng.choice(with_items) if with_items else target
        spoil: dict[str, Callable[[dict[str, Any], int], None]] = {
            "missing_field": self._missing_field,
            "invalid_type": self._invalid_type,
            "invalid_timestamp": self._invalid_timestamp,
            "timestamp_out_of_range": self._out_of_range,
            "too_many_items": self._too_many_items,
            "invalid_item": self._invalid_item,
        }
        spoil[code](members[target], received_us)
        expected = tuple(code if n == target else VALID for n in range(len(members)))
        return encode(members, batch), expected

    # --- whole messages -----------------------------------------------------------------------

    def _invalid_json(self, members: list[dict[str, Any]], batch: bool) -> bytes:
        text = encode(members, batch).decode("utf-8")
        if self.rng.random() < 0.5:
            # The connection dropped mid-upload: a strict prefix of an object is never JSON.
            return text[: self.rng.randint(1, len(text) - 1)].encode("utf-8")
        return (text + text).encode("utf-8")  # two uploads glued together by a buggy retry

    def _invalid_utf8(self, members: list[dict[str, Any]], batch: bool) -> bytes:
        members[0]["device_name"] = BAD_TEXT
        body = encode(members, batch)
        return body.replace(dumps(BAD_TEXT)[1:-1].encode("utf-8"), b"Tel\xe9fono de Mar\xeda")

    def _invalid_shape(self, members: list[dict[str, Any]], batch: bool) -> bytes | None:
        rng = self.rng
        variant = rng.randrange(5 if batch else 4)
        if variant == 0:
            return dumps(members).encode("utf-8")  # a bare array of events
        if variant == 1:
            return dumps(encode(members, batch).decode("utf-8")).encode("utf-8")  # JSON in a string
        if variant == 2:
            return b'{"events":[]}'  # the uploader flushed an empty buffer
        if variant == 3:
            return dumps({"events": members[0]}).encode("utf-8")  # one event, not wrapped
        members.insert(rng.randrange(len(members) + 1), rng.choice((None, "event", 0)))
        return None

    def _too_large(self, members: list[dict[str, Any]], batch: bool) -> bytes:
        # A debug build attached a screenshot.
        blob = base64.b64encode(self.rng.randbytes(MAX_BODY_BYTES)).decode("ascii")
        members[0]["debug_screenshot_base64"] = blob
        return encode(members, batch)

    # --- one event ----------------------------------------------------------------------------

    def _missing_field(self, event: dict[str, Any], received_us: int) -> None:
        field = self.rng.choice(("event_name", "event_timestamp", "user_id"))
        how = self.rng.randrange(3)
        if how == 0:
            del event[field]
        else:
            event[field] = None if how == 1 else ""

    def _invalid_type(self, event: dict[str, Any], received_us: int) -> None:
        rng = self.rng
        variant = rng.randrange(7)
        if variant == 0:
            event["user_id"] = rng.randint(10_000, 9_999_999)  # a numeric user id
        elif variant == 1:
            event["event_id"] = rng.randint(1, 2**31)
        elif variant == 2:
            event["event_timestamp"] = _time_of(event["event_timestamp"]) / 1e6  # float seconds
        elif variant == 3:
            event["event_params"] = dumps(event["event_params"])  # params encoded twice
        elif variant == 4:
            items = event.get("items")
            event["items"] = items[0] if items else "[]"  # one item, not wrapped in an array
        elif variant == 5:
            event["user_id"] = "usr_" + "0" * 200
        else:
            event["event_name"] = True

    def _invalid_timestamp(self, event: dict[str, Any], received_us: int) -> None:
        t_us = _time_of(event["event_timestamp"])
        naive = (EPOCH + timedelta(microseconds=t_us)).replace(tzinfo=None)
        event["event_timestamp"] = self.rng.choice(
            (
                naive.isoformat(timespec="seconds"),  # no offset
                naive.strftime("%Y-%m-%d %H:%M:%S"),
                naive.strftime("%d/%m/%Y %H:%M"),
                str(t_us // 1000),  # epoch millis as a string
                t_us // 1_000_000,  # epoch seconds
                f"{naive.year}-02-30T10:00:00Z",
            )
        )

    def _out_of_range(self, event: dict[str, Any], received_us: int) -> None:
        original = event["event_timestamp"]
        if self.rng.random() < 0.5:
            # A device clock years ahead: far more than 24 h after receipt, however it travels.
            ahead = received_us + self.rng.randint(400, 1500) * DAY_US
            event["event_timestamp"] = _like(original, ahead)
        else:
            # A clock reset to its factory date: before any NELO_START_DATE.
            reset = _time_of("2001-01-01T00:00:00Z") + self.rng.randrange(DAY_US)
            event["event_timestamp"] = _iso_z(reset)  # as ISO: 2001 in epoch ms is below 10^12

    def _too_many_items(self, event: dict[str, Any], received_us: int) -> None:
        count = self.rng.randint(201, 260)  # the whole category page in one event
        event["items"] = [{"item_id": str(100_001 + n % 300), "index": n} for n in range(count)]

    def _invalid_item(self, event: dict[str, Any], received_us: int) -> None:
        items = event.setdefault("items", [{"item_id": "100001", "price": 10.0}])
        position = self.rng.randrange(len(items))
        item = items[position]
        variant = self.rng.randrange(8)
        if variant == 0:
            item["price"] = -float(item.get("price") or 49.9)
        elif variant == 1:
            item["price"] = "gratis"
        elif variant == 2:
            item["quantity"] = 0
        elif variant == 3:
            item["quantity"] = 1.5
        elif variant == 4:
            item["discount"] = -10.0
        elif variant == 5:
            del item["item_id"]
        elif variant == 6:
            item["item_id"] = ""
        else:
            items[position] = str(item.get("item_id"))  # the SKU alone, not an object
