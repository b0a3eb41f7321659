"""What a simulation is asked for (`SimulationConfig`) and what it yields (`SimulatedMessage`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from nelo_assets.contract import REASON_CODES
from nelo_assets.settings import DEFAULT_START_DATE, DEFAULT_TIMEZONE

VALID = "valid"
# invalid_utf8 and too_large cannot travel through SQS (text bodies, 256 KiB per send call).
ARCHIVE_ONLY_FAULTS = ("invalid_utf8", "too_large")
MESSAGE_FAULTS = ("invalid_json", "invalid_utf8", "invalid_shape", "too_large")
# Every other reason code of the contract is a fault of one event inside a message.
EVENT_FAULTS = tuple(reason for reason in REASON_CODES if reason not in MESSAGE_FAULTS)
MIN_PRODUCTS = 30
# Without an explicit user count there is one user per ~20 events a day, within these bounds.
AUTO_USERS_MIN = 1_000
AUTO_USERS_MAX = 100_000
EVENTS_PER_AUTO_USER = 20


def _microseconds(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class SimulationConfig:
    """A reproducible slice of app traffic: the same config always yields the same bytes.

    `begin` and `end` (timezone-aware) narrow the days from `start`: no session starts before
    `begin`, no event happens after `end` and no message is received after `end` (a late one
    that would arrive later is simply not there yet). `transport="sqs"` keeps to what SQS can
    carry: no invalid UTF-8, no oversized bodies and no queue redeliveries.
    """

    seed: int = 7
    start: date = DEFAULT_START_DATE
    days: int = 7
    events_per_day: int = 20_000
    users: int | None = None
    products: int = 300
    timezone: str = DEFAULT_TIMEZONE
    duplicate_rate: float = 0.01
    late_rate: float = 0.02
    malformed_rate: float = 0.002
    batch_rate: float = 0.6
    transport: Literal["archive", "sqs"] = "archive"
    begin: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("days", "events_per_day"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.users is not None and self.users < 1:
            raise ValueError("users must be at least 1")
        if self.products < MIN_PRODUCTS:
            raise ValueError(f"products must be at least {MIN_PRODUCTS}")
        for name in ("duplicate_rate", "late_rate", "malformed_rate", "batch_rate"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.transport not in ("archive", "sqs"):
            raise ValueError(f"transport must be 'archive' or 'sqs', got {self.transport!r}")
        ZoneInfo(self.timezone)  # raises for an unknown zone
        for name in ("begin", "end"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def user_count(self) -> int:
        if self.users is not None:
            return self.users
        auto = math.ceil(self.events_per_day / EVENTS_PER_AUTO_USER)
        return min(AUTO_USERS_MAX, max(AUTO_USERS_MIN, auto))

    @property
    def window_us(self) -> tuple[int, int]:
        """[first, last) instant of traffic in epoch microseconds."""
        first = datetime.combine(self.start, datetime.min.time(), self.tz)
        last = datetime.combine(
            self.start + timedelta(days=self.days), datetime.min.time(), self.tz
        )
        lo, hi = _microseconds(first), _microseconds(last)
        if self.begin is not None:
            lo = max(lo, _microseconds(self.begin))
        if self.end is not None:
            hi = min(hi, _microseconds(self.end))
        return lo, hi

    @property
    def fault_codes(self) -> tuple[str, ...]:
        codes = MESSAGE_FAULTS + EVENT_FAULTS
        if self.transport == "sqs":
            return tuple(code for code in codes if code not in ARCHIVE_ONLY_FAULTS)
        return codes


@dataclass(frozen=True)
class SimulatedMessage:
    """One delivery of a body. `expected` is "valid" or the one reason code it was built to
    produce; `expected_events` holds one code per batch member (one for a single-event body),
    and is empty when the whole message fails. A queue redelivery repeats `message_id` with
    `receive_count` 2."""

    message_id: str
    received_at: datetime  # UTC
    body: bytes
    expected: str
    expected_events: tuple[str, ...]
    receive_count: int = 1

    @property
    def event_count(self) -> int:
        return len(self.expected_events)
