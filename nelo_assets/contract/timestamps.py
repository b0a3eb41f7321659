"""The device time of an event: its accepted forms, its range for the receipt, its local date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from nelo_assets.contract.reasons import ContractError
from nelo_assets.contract.values import (
    EPOCH_MICROS_MIN,
    EPOCH_MILLIS_MIN,
    MAX_FUTURE,
    NUMBER,
    excerpt,
    is_int,
    json_type,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Receipt:
    """What the pipeline knows of a message besides its body; the validation context."""

    message_id: str
    received_at: datetime  # UTC
    timezone: str
    start_date: date


@cache
def zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)


def event_date_of(ts: datetime, timezone: str) -> date:
    return ts.astimezone(zone(timezone)).date()


def parse_event_timestamp(value: Any) -> datetime:
    """ISO-8601 with an offset or Z, epoch micros (>= 10^15) or epoch millis (>= 10^12) -> UTC."""
    if is_int(value):
        try:
            if value >= EPOCH_MICROS_MIN:
                return _EPOCH + timedelta(microseconds=value)
            if value >= EPOCH_MILLIS_MIN:
                return _EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            raise ContractError("invalid_timestamp", f"epoch {value} is beyond year 9999") from None
        raise ContractError(
            "invalid_timestamp", f"integer {value} is below 10^12 (neither epoch ms nor µs)"
        )
    if not isinstance(value, str):
        raise ContractError(
            "invalid_type", f"event_timestamp is a {json_type(value)}, not a string or integer"
        )
    if NUMBER.fullmatch(value.strip()):
        raise ContractError(
            "invalid_timestamp", f"event_timestamp is a numeric string: {excerpt(value)}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ContractError(
            "invalid_timestamp", f"event_timestamp {excerpt(value)} is not ISO-8601 ({exc})"
        ) from None
    if parsed.utcoffset() is None:
        raise ContractError(
            "invalid_timestamp", f"event_timestamp {excerpt(value)} has no UTC offset"
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ContractError(
            "invalid_timestamp", f"event_timestamp {excerpt(value)} is out of range in UTC"
        ) from None


def in_range(ts: datetime, receipt: Receipt) -> date:
    if ts > receipt.received_at + MAX_FUTURE:
        raise ContractError(
            "timestamp_out_of_range",
            f"event_timestamp {ts.isoformat()} is more than 24h after receipt "
            f"{receipt.received_at.isoformat()}",
        )
    try:
        event_date = event_date_of(ts, receipt.timezone)
    except OverflowError:  # only year 1 can leave the calendar once the future is ruled out
        raise ContractError(
            "timestamp_out_of_range", f"event_timestamp {ts.isoformat()} is before year 1 locally"
        ) from None
    if event_date < receipt.start_date:
        raise ContractError(
            "timestamp_out_of_range",
            f"event_date {event_date} is before start date {receipt.start_date}",
        )
    return event_date


def known_date(event: dict[str, Any], timezone: str) -> date | None:
    try:
        return event_date_of(parse_event_timestamp(event.get("event_timestamp")), timezone)
    except (ContractError, OverflowError):
        return None
