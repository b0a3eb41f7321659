"""The entry points: a message or a routed event checked as a whole, every failure quarantined."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from nelo_assets.contract.bodies import Member, loads_strict, members_of, raw_body
from nelo_assets.contract.models import TIMESTAMP, Event, EventIn, build_event
from nelo_assets.contract.reasons import ContractError, Reason, first_broken, unexpected_error
from nelo_assets.contract.timestamps import Receipt, event_date_of, known_date, zone
from nelo_assets.contract.values import json_type

_T = TypeVar("_T")


class QuarantineRecord(BaseModel):
    """One quarantined message or event: the columns of schemas.QUARANTINE except `stage`."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    received_at: datetime
    batch_index: int | None
    event_date: date | None
    reason: Reason
    detail: str
    # The body text (invalid UTF-8 decoded with errors="backslashreplace"), or the event's JSON.
    raw: str


@dataclass(frozen=True)
class ParsedMessage:
    events: list[Event]
    quarantined: list[QuarantineRecord]


@dataclass(frozen=True)
class RoutableEvent:
    batch_index: int
    event_timestamp: datetime  # UTC
    event_date: date
    raw: str  # single-event body: the body unchanged; batch member: its compact JSON


@dataclass(frozen=True)
class RoutedMessage:
    events: list[RoutableEvent]
    quarantined: list[QuarantineRecord]


def _receipt(message_id: str, received_at: datetime, timezone: str, start_date: date) -> Receipt:
    # A bad time zone is configuration, not message content: it raises here, loudly.
    zone(timezone)
    # A naive receive time is taken as UTC rather than failing every comparison.
    if received_at.utcoffset() is None:
        received_at = received_at.replace(tzinfo=UTC)
    return Receipt(message_id, received_at.astimezone(UTC), timezone, start_date)


def _quarantine(
    receipt: Receipt,
    batch_index: int | None,
    event_date: date | None,
    error: ContractError,
    raw: str,
) -> QuarantineRecord:
    return QuarantineRecord(
        message_id=receipt.message_id,
        received_at=receipt.received_at,
        batch_index=batch_index,
        event_date=event_date,
        reason=error.reason,
        detail=error.detail,
        raw=raw,
    )


def _validated(event: dict[str, Any], receipt: Receipt) -> EventIn:
    try:
        return EventIn.model_validate(event, context=receipt)
    except ValidationError as exc:
        raise first_broken(exc) from None


def _parse(receipt: Receipt, event: dict[str, Any], member: Member) -> Event:
    return build_event(_validated(event, receipt), receipt, member.batch_index)


def _route(receipt: Receipt, event: dict[str, Any], member: Member) -> RoutableEvent:
    try:
        ts = TIMESTAMP.validate_python(event.get("event_timestamp"), context=receipt)
    except ValidationError as exc:
        # Without a usable time the event is quarantined here, for the first rule it breaks,
        # which may come before the time's own (a missing user_id, say).
        _validated(event, receipt)
        raise first_broken(exc) from None
    # Whatever else is wrong, a usable time routes the event (silver quarantines it).
    return RoutableEvent(member.batch_index, ts, event_date_of(ts, receipt.timezone), member.raw)


def _check_member(
    receipt: Receipt, member: Member, check: Callable[[Receipt, dict[str, Any], Member], _T]
) -> _T | QuarantineRecord:
    """`check` one member; any failure, expected or not, becomes its quarantine record."""
    event = member.value
    try:
        if not isinstance(event, dict):
            raise ContractError(
                "invalid_shape", f"batch member is a JSON {json_type(event)}, not an object"
            )
        return check(receipt, event, member)
    except ContractError as err:
        known = known_date(event, receipt.timezone) if isinstance(event, dict) else None
        return _quarantine(receipt, member.batch_index, known, err, member.raw)
    except Exception as exc:
        return _quarantine(receipt, member.batch_index, None, unexpected_error(exc), member.raw)


def _check_body(
    receipt: Receipt,
    body: bytes | str,
    check: Callable[[Receipt, dict[str, Any], Member], _T],
) -> tuple[list[_T], list[QuarantineRecord]]:
    try:
        members = members_of(body)
    except Exception as exc:
        err = exc if isinstance(exc, ContractError) else unexpected_error(exc)
        return [], [_quarantine(receipt, None, None, err, raw_body(body))]
    results = [_check_member(receipt, member, check) for member in members]
    return (
        [r for r in results if not isinstance(r, QuarantineRecord)],
        [r for r in results if isinstance(r, QuarantineRecord)],
    )


# --- the public entry points ----------------------------------------------------------------------


def parse_message(
    message_id: str, received_at: datetime, body: bytes | str, *, timezone: str, start_date: date
) -> ParsedMessage:
    """The whole contract: each event of the body is valid or quarantined, as a whole."""
    receipt = _receipt(message_id, received_at, timezone, start_date)
    return ParsedMessage(*_check_body(receipt, body, _parse))


def parse_event(
    message_id: str,
    received_at: datetime,
    batch_index: int,
    raw: str,
    *,
    timezone: str,
    start_date: date,
) -> Event | QuarantineRecord:
    """One routed event (a bronze row's `raw`) through the same rules as `parse_message`."""
    receipt = _receipt(message_id, received_at, timezone, start_date)
    try:
        value = loads_strict(raw)
    except Exception as exc:
        return _quarantine(receipt, batch_index, None, ContractError("invalid_json", f"{exc}"), raw)
    return _check_member(receipt, Member(batch_index, value, raw), _parse)


def route_message(
    message_id: str, received_at: datetime, body: bytes | str, *, timezone: str, start_date: date
) -> RoutedMessage:
    """What ingestion does: each event with a present, valid, in-range time is routable; the
    others, and a message that fails whole, are quarantined with the first rule they break."""
    receipt = _receipt(message_id, received_at, timezone, start_date)
    return RoutedMessage(*_check_body(receipt, body, _route))
