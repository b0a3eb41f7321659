"""The event contract of docs/events.md in code: the only place that decides valid, routable or quarantined.

`route_message` is what ingestion needs (the time of each event), `parse_message` / `parse_event`
what silver needs (the whole event). None of them raises on any message content: every failure,
expected or not, becomes a `QuarantineRecord`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

Reason = Literal[
    "invalid_json",
    "invalid_utf8",
    "invalid_shape",
    "too_large",
    "missing_field",
    "invalid_type",
    "invalid_timestamp",
    "timestamp_out_of_range",
    "invalid_item",
    "too_many_items",
]
REASON_CODES: tuple[str, ...] = get_args(Reason)
Platform = Literal["IOS", "ANDROID", "WEB", "UNKNOWN"]

MAX_BODY_BYTES = 256 * 1024
MAX_BATCH_EVENTS = 500
MAX_ITEMS = 200
MAX_ID_LENGTH = 128
MAX_FUTURE = timedelta(hours=24)
EPOCH_MILLIS_MIN = 10**12
EPOCH_MICROS_MIN = 10**15
DEFAULT_CURRENCY = "MXN"
# Beyond the contract, but needed so that no accepted item can fail a write later (R7): amounts
# must fit DECIMAL(18,2) (also price x quantity and discount x quantity), counts an INTEGER.
MAX_MONEY = Decimal("9999999999999999.99")
MAX_INT32 = 2**31 - 1

REQUIRED_FIELDS = ("event_name", "event_timestamp", "user_id")
PROMOTED_TEXT_PARAMS = ("item_list_id", "item_list_name", "transaction_id", "search_term")
ITEM_TEXT_FIELDS = (
    "item_name",
    "item_brand",
    "item_category",
    "item_category2",
    "item_category3",
    "item_category4",
    "item_category5",
    "item_variant",
    "coupon",
)
GA4_VALUE_KEYS = ("string_value", "int_value", "float_value", "double_value")
PLATFORMS = frozenset({"IOS", "ANDROID", "WEB"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Bounded so int() never meets Python's 4300-digit limit; no usable integer is that long.
_INTEGER = re.compile(r"[+-]?\d{1,30}", re.ASCII)
# A JSON escape of a UTF-16 surrogate: only then can a decoded string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_EXCERPT_CHARS = 80
_T = TypeVar("_T")


class ContractError(ValueError):
    """A rule of docs/events.md is broken: `reason` is its code, `detail` says what exactly."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


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


class Item(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_id: str
    item_name: str | None = None
    item_brand: str | None = None
    item_category: str | None = None
    item_category2: str | None = None
    item_category3: str | None = None
    item_category4: str | None = None
    item_category5: str | None = None
    item_variant: str | None = None
    price: Decimal | None = None
    quantity: int = 1
    discount: Decimal = Decimal(0)
    coupon: str | None = None
    item_list_id: str | None = None  # after the event-level fallback
    item_list_name: str | None = None  # after the event-level fallback
    index: int | None = None
    in_stock: bool | None = None
    discounts: list[str] = []
    item_params: dict[str, Any] = {}


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str  # as sent, or derive_event_id(message_id, batch_index)
    message_id: str
    batch_index: int
    received_at: AwareDatetime
    event_name: str
    event_timestamp: AwareDatetime  # UTC
    event_date: date
    user_id: str
    user_pseudo_id: str | None = None
    platform: Platform = "UNKNOWN"
    app_version: str | None = None
    event_params: dict[str, Any] = {}  # normalised from either form
    item_list_id: str | None = None
    item_list_name: str | None = None
    currency: str = DEFAULT_CURRENCY
    value: Decimal | None = None
    transaction_id: str | None = None
    search_term: str | None = None
    items: list[Item] = []


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


# --- small pure helpers -------------------------------------------------------------------------


def derive_event_id(message_id: str, batch_index: int) -> str:
    return hashlib.md5(f"{message_id}:{batch_index}".encode()).hexdigest()


@cache
def _zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)


def event_date_of(ts: datetime, timezone: str) -> date:
    return ts.astimezone(_zone(timezone)).date()


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as Python bools, which are ints.
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _excerpt(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "..."


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as a finite Decimal; None when it is neither."""
    if _is_int(value):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return Decimal(value.strip())
    return None


def _text(value: Any) -> str | None:
    """An optional string field: null is absent; any other non-string is kept as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    return _compact(value)


def _nonempty_text(value: Any) -> str | None:
    text = _text(value)
    return text or None


def _platform(value: Any) -> Platform:
    if isinstance(value, str) and value.strip().upper() in PLATFORMS:
        return value.strip().upper()  # type: ignore[return-value]
    return "UNKNOWN"


# --- timestamps ---------------------------------------------------------------------------------


def parse_event_timestamp(value: Any) -> datetime:
    """ISO-8601 with an offset or Z, epoch micros (>= 10^15) or epoch millis (>= 10^12) -> UTC."""
    if _is_int(value):
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
            "invalid_type", f"event_timestamp is a {_json_type(value)}, not a string or integer"
        )
    if _NUMBER.fullmatch(value.strip()):
        raise ContractError(
            "invalid_timestamp", f"event_timestamp is a numeric string: {_excerpt(value)}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ContractError(
            "invalid_timestamp", f"event_timestamp {_excerpt(value)} is not ISO-8601 ({exc})"
        ) from None
    if parsed.utcoffset() is None:
        raise ContractError(
            "invalid_timestamp", f"event_timestamp {_excerpt(value)} has no UTC offset"
        )
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ContractError(
            "invalid_timestamp", f"event_timestamp {_excerpt(value)} is out of range in UTC"
        ) from None


def _check_range(ts: datetime, received_at: datetime, timezone: str, start_date: date) -> date:
    if ts > received_at + MAX_FUTURE:
        raise ContractError(
            "timestamp_out_of_range",
            f"event_timestamp {ts.isoformat()} is more than 24h after receipt "
            f"{received_at.isoformat()}",
        )
    try:
        event_date = event_date_of(ts, timezone)
    except OverflowError:  # only year 1 can leave the calendar once the future is ruled out
        raise ContractError(
            "timestamp_out_of_range", f"event_timestamp {ts.isoformat()} is before year 1 locally"
        ) from None
    if event_date < start_date:
        raise ContractError(
            "timestamp_out_of_range", f"event_date {event_date} is before start date {start_date}"
        )
    return event_date


# --- params -------------------------------------------------------------------------------------


def _ga4_value(value: Any, where: str) -> Any:
    """The one typed value of a GA4 `value` object (keys with null values do not count)."""
    if not isinstance(value, dict):
        raise ContractError(
            "invalid_type", f"{where}.value is a {_json_type(value)}, not an object"
        )
    present = [(key, value[key]) for key in GA4_VALUE_KEYS if value.get(key) is not None]
    if len(present) > 1:
        raise ContractError("invalid_type", f"{where}.value has several typed values")
    if not present:
        return None
    key, typed = present[0]
    if key == "string_value" and isinstance(typed, str):
        return typed
    if key == "int_value" and (
        _is_int(typed) or (isinstance(typed, str) and _INTEGER.fullmatch(typed))
    ):
        return int(typed)
    if key in ("float_value", "double_value"):
        number = _decimal(typed)
        if number is not None and math.isfinite(float(number)):
            return float(number)
    raise ContractError("invalid_type", f"{where}.value.{key} is unusable: {_excerpt(typed)}")


def normalise_params(value: Any, field: str) -> dict[str, Any]:
    """An object, or the GA4 list form [{"key", "value": {"<type>_value": v}}], as one dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if not isinstance(value, list):
        raise ContractError(
            "invalid_type", f"{field} is a {_json_type(value)}, not an object or a GA4 list"
        )
    params: dict[str, Any] = {}
    for position, entry in enumerate(value):
        where = f"{field}[{position}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise ContractError("invalid_type", f"{where} is not a {{key, value}} entry")
        params[entry["key"]] = _ga4_value(entry.get("value"), where)
    return params


# --- rules 1 to 4: what routing needs -------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    event_timestamp: datetime
    event_date: date
    event_params: dict[str, Any]
    item_params: list[dict[str, Any]]  # aligned with the object items; {} for non-objects


def _check_head(
    event: dict[str, Any], received_at: datetime, timezone: str, start_date: date
) -> _Head:
    """Rules 1 (missing_field) to 4 (timestamp_out_of_range), in order; raises the first broken."""
    for field in REQUIRED_FIELDS:
        if event.get(field) is None or event.get(field) == "":
            raise ContractError("missing_field", f"{field} is absent, null or empty")

    for field in ("event_name", "user_id"):
        if not isinstance(event[field], str):
            raise ContractError(
                "invalid_type", f"{field} is a {_json_type(event[field])}: {_excerpt(event[field])}"
            )
    if not (isinstance(event["event_timestamp"], str) or _is_int(event["event_timestamp"])):
        raise ContractError(
            "invalid_type",
            f"event_timestamp is a {_json_type(event['event_timestamp'])}, not a string or integer",
        )
    event_id = event.get("event_id")
    if event_id is not None and not isinstance(event_id, str):
        raise ContractError("invalid_type", f"event_id is a {_json_type(event_id)}")
    if event_id is not None and not 1 <= len(event_id) <= MAX_ID_LENGTH:
        raise ContractError("invalid_type", f"event_id has {len(event_id)} characters, not 1..128")
    if len(event["user_id"]) > MAX_ID_LENGTH:
        raise ContractError(
            "invalid_type", f"user_id has {len(event['user_id'])} characters (> 128)"
        )
    event_params = normalise_params(event.get("event_params"), "event_params")
    items = event.get("items")
    if items is not None and not isinstance(items, list):
        raise ContractError("invalid_type", f"items is a {_json_type(items)}, not an array")
    item_params = [
        normalise_params(item.get("item_params"), f"items[{n}].item_params")
        if isinstance(item, dict)
        else {}
        for n, item in enumerate(items or ())
    ]

    ts = parse_event_timestamp(event["event_timestamp"])
    event_date = _check_range(ts, received_at, timezone, start_date)
    return _Head(ts, event_date, event_params, item_params)


def _routable_time(
    event: dict[str, Any], received_at: datetime, timezone: str, start_date: date
) -> tuple[datetime, date] | None:
    """The event's time and date when present, valid and in range, whatever else is wrong."""
    value = event.get("event_timestamp")
    if value is None or value == "":
        return None
    try:
        ts = parse_event_timestamp(value)
        return ts, _check_range(ts, received_at, timezone, start_date)
    except ContractError:
        return None


def _known_date(event: dict[str, Any], timezone: str) -> date | None:
    try:
        return event_date_of(parse_event_timestamp(event.get("event_timestamp")), timezone)
    except (ContractError, OverflowError):
        return None


# --- rules 5 and 6: items -------------------------------------------------------------------------


def _amount(item: dict[str, Any], field: str, where: str) -> Decimal | None:
    value = item.get(field)
    if value is None:
        return None
    amount = _decimal(value)
    if amount is None:
        raise ContractError("invalid_item", f"{where}.{field} is not a number: {_excerpt(value)}")
    if amount < 0:
        raise ContractError("invalid_item", f"{where}.{field} is negative: {_excerpt(value)}")
    if amount > MAX_MONEY:
        raise ContractError("invalid_item", f"{where}.{field} is too large: {_excerpt(value)}")
    return amount


def _quantity(item: dict[str, Any], where: str) -> int:
    value = item.get("quantity")
    if value is None:
        return 1
    if _is_int(value) or (isinstance(value, str) and _INTEGER.fullmatch(value.strip())):
        quantity = int(value)
        if 1 <= quantity <= MAX_INT32:
            return quantity
    raise ContractError(
        "invalid_item", f"{where}.quantity is not an integer >= 1: {_excerpt(value)}"
    )


def _in_stock(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return bool(value) if _is_int(value) and value in (0, 1) else None


def _discounts(value: Any) -> list[str]:
    codes = value.split(",") if isinstance(value, str) else value
    if not isinstance(codes, list):
        return []
    return [code.strip() for code in map(_text, codes) if code and code.strip()]


def _own_or_param(item: dict[str, Any], params: dict[str, Any], field: str) -> Any:
    own = item.get(field)
    return own if own is not None else params.get(field)


def _item(
    item: Any,
    position: int,
    item_params: dict[str, Any],
    list_id: str | None,
    list_name: str | None,
) -> Item:
    where = f"items[{position}]"
    if not isinstance(item, dict):
        raise ContractError("invalid_item", f"{where} is a {_json_type(item)}, not an object")
    item_id = item.get("item_id")
    if not ((isinstance(item_id, str) and item_id) or _is_int(item_id)):
        raise ContractError("invalid_item", f"{where}.item_id is not usable: {_excerpt(item_id)}")
    price = _amount(item, "price", where)
    discount = _amount(item, "discount", where) or Decimal(0)
    quantity = _quantity(item, where)
    if (price or 0) * quantity > MAX_MONEY or discount * quantity > MAX_MONEY:
        raise ContractError("invalid_item", f"{where}: amount x quantity is too large")
    index = item.get("index")
    return Item(
        item_id=str(item_id),
        **{field: _text(item.get(field)) for field in ITEM_TEXT_FIELDS},
        price=price,
        quantity=quantity,
        discount=discount,
        item_list_id=_nonempty_text(item.get("item_list_id")) or list_id,
        item_list_name=_nonempty_text(item.get("item_list_name")) or list_name,
        index=index if _is_int(index) and 0 <= index <= MAX_INT32 else None,
        in_stock=_in_stock(_own_or_param(item, item_params, "in_stock")),
        discounts=_discounts(_own_or_param(item, item_params, "discounts")),
        item_params=item_params,
    )


def _money(value: Any) -> Decimal | None:
    amount = _decimal(value)
    return amount if amount is not None and abs(amount) <= MAX_MONEY else None


def _event(
    event: dict[str, Any], head: _Head, message_id: str, batch_index: int, received_at: datetime
) -> Event:
    items = event.get("items") or []
    if len(items) > MAX_ITEMS:
        raise ContractError("too_many_items", f"items has {len(items)} entries (> {MAX_ITEMS})")
    params = head.event_params
    promoted = {name: _nonempty_text(params.get(name)) for name in PROMOTED_TEXT_PARAMS}
    return Event(
        event_id=event.get("event_id") or derive_event_id(message_id, batch_index),
        message_id=message_id,
        batch_index=batch_index,
        received_at=received_at,
        event_name=event["event_name"],
        event_timestamp=head.event_timestamp,
        event_date=head.event_date,
        user_id=event["user_id"],
        user_pseudo_id=_text(event.get("user_pseudo_id")),
        platform=_platform(event.get("platform")),
        app_version=_text(event.get("app_version")),
        event_params=params,
        currency=_nonempty_text(params.get("currency")) or DEFAULT_CURRENCY,
        value=_money(params.get("value")),
        items=[
            _item(
                item, n, head.item_params[n], promoted["item_list_id"], promoted["item_list_name"]
            )
            for n, item in enumerate(items)
        ],
        **promoted,
    )


# --- bodies -------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:_EXCERPT_CHARS]} is out of range")
    return number


def loads_strict(text: str) -> Any:
    """json.loads that refuses what could not be written back as JSON text in UTF-8.

    NaN/Infinity are not JSON, a number beyond float range would come back as Infinity, and an
    escaped lone surrogate cannot be encoded in UTF-8 (raw columns, Parquet).
    """
    value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    if _SURROGATE_ESCAPE.search(text):
        try:
            _compact(value).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone UTF-16 surrogate") from None
    return value


def _bytes(body: bytes | str) -> bytes:
    # surrogatepass lets a str holding a lone surrogate reach the UTF-8 check (and fail it).
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)


def _raw_body(body: bytes | str) -> str:
    return _bytes(body).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class _Member:
    batch_index: int
    value: Any
    raw: str  # single-event body: the body text unchanged; batch member: its compact JSON


def _members(body: bytes | str) -> list[_Member]:
    """The events of a body; raises a whole-message ContractError (too_large .. invalid_shape)."""
    data = _bytes(body)
    if len(data) > MAX_BODY_BYTES:
        raise ContractError("too_large", f"body is {len(data)} bytes (> {MAX_BODY_BYTES})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError("invalid_utf8", f"body is not valid UTF-8 ({exc})") from None
    try:
        value = loads_strict(text)
    except (ValueError, RecursionError) as exc:
        raise ContractError("invalid_json", f"body is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ContractError("invalid_shape", f"body is a JSON {_json_type(value)}, not an object")
    if "events" not in value:
        return [_Member(0, value, text)]
    events = value["events"]
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH_EVENTS:
        size = f"{len(events)} members" if isinstance(events, list) else _json_type(events)
        raise ContractError(
            "invalid_shape", f"events must be an array of 1..{MAX_BATCH_EVENTS}, got {size}"
        )
    try:
        return [_Member(n, member, _compact(member)) for n, member in enumerate(events)]
    except RecursionError:  # nesting that json.loads just managed can still be too deep to dump
        raise ContractError("invalid_json", "body is nested too deeply") from None


def _utc(received_at: datetime) -> datetime:
    # A naive receive time is taken as UTC rather than failing every comparison.
    if received_at.utcoffset() is None:
        return received_at.replace(tzinfo=UTC)
    return received_at.astimezone(UTC)


def _unexpected(exc: Exception) -> ContractError:
    # A bug in this module must still keep the message (R7); the detail makes it findable.
    return ContractError(
        "invalid_shape", f"unexpected error checking the contract: {type(exc).__name__}: {exc}"
    )


@dataclass(frozen=True)
class _Context:
    message_id: str
    received_at: datetime  # UTC
    timezone: str
    start_date: date

    def quarantine(
        self, batch_index: int | None, event_date: date | None, error: ContractError, raw: str
    ) -> QuarantineRecord:
        return QuarantineRecord(
            message_id=self.message_id,
            received_at=self.received_at,
            batch_index=batch_index,
            event_date=event_date,
            reason=error.reason,
            detail=error.detail,
            raw=raw,
        )


def _context(message_id: str, received_at: datetime, timezone: str, start_date: date) -> _Context:
    # A bad time zone is configuration, not message content: it raises here, loudly.
    _zone(timezone)
    return _Context(message_id, _utc(received_at), timezone, start_date)


def _check_member(
    ctx: _Context, member: _Member, check: Callable[[_Context, dict[str, Any], _Member], _T]
) -> _T | QuarantineRecord:
    """`check` one member; any failure, expected or not, becomes its quarantine record."""
    event = member.value
    try:
        if not isinstance(event, dict):
            raise ContractError(
                "invalid_shape", f"batch member is a JSON {_json_type(event)}, not an object"
            )
        return check(ctx, event, member)
    except ContractError as err:
        known = _known_date(event, ctx.timezone) if isinstance(event, dict) else None
        return ctx.quarantine(member.batch_index, known, err, member.raw)
    except Exception as exc:
        return ctx.quarantine(member.batch_index, None, _unexpected(exc), member.raw)


def _check_body(
    ctx: _Context, body: bytes | str, check: Callable[[_Context, dict[str, Any], _Member], _T]
) -> tuple[list[_T], list[QuarantineRecord]]:
    try:
        members = _members(body)
    except Exception as exc:
        err = exc if isinstance(exc, ContractError) else _unexpected(exc)
        return [], [ctx.quarantine(None, None, err, _raw_body(body))]
    results = [_check_member(ctx, member, check) for member in members]
    return (
        [r for r in results if not isinstance(r, QuarantineRecord)],
        [r for r in results if isinstance(r, QuarantineRecord)],
    )


def _parse(ctx: _Context, event: dict[str, Any], member: _Member) -> Event:
    head = _check_head(event, ctx.received_at, ctx.timezone, ctx.start_date)
    return _event(event, head, ctx.message_id, member.batch_index, ctx.received_at)


def _route(ctx: _Context, event: dict[str, Any], member: _Member) -> RoutableEvent:
    try:
        head = _check_head(event, ctx.received_at, ctx.timezone, ctx.start_date)
        time = head.event_timestamp, head.event_date
    except ContractError:
        # Whatever else is wrong, a usable time still routes the event (silver quarantines it).
        time = _routable_time(event, ctx.received_at, ctx.timezone, ctx.start_date)
        if time is None:
            raise
    return RoutableEvent(member.batch_index, time[0], time[1], member.raw)


# --- the public entry points ----------------------------------------------------------------------


def parse_message(
    message_id: str, received_at: datetime, body: bytes | str, *, timezone: str, start_date: date
) -> ParsedMessage:
    """The whole contract: each event of the body is valid or quarantined, as a whole."""
    ctx = _context(message_id, received_at, timezone, start_date)
    return ParsedMessage(*_check_body(ctx, body, _parse))


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
    ctx = _context(message_id, received_at, timezone, start_date)
    try:
        value = loads_strict(raw)
    except Exception as exc:
        return ctx.quarantine(batch_index, None, ContractError("invalid_json", f"{exc}"), raw)
    return _check_member(ctx, _Member(batch_index, value, raw), _parse)


def route_message(
    message_id: str, received_at: datetime, body: bytes | str, *, timezone: str, start_date: date
) -> RoutedMessage:
    """What ingestion does: each event with a present, valid, in-range time is routable; the
    others, and a message that fails whole, are quarantined with the first rule they break."""
    ctx = _context(message_id, received_at, timezone, start_date)
    return RoutedMessage(*_check_body(ctx, body, _route))


# --- JSON Schema of the contract (docs/event-schema.json) ------------------------------------------

_ISO_WITH_OFFSET = r"^\d{4}-.*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"
_NONNEGATIVE_NUMBER = r"^\s*\+?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$"
_POSITIVE_INTEGER = r"^\s*\+?0*[1-9]\d*\s*$"


def event_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of a message body: a batch {"events": [...]} or a single event.

    It documents what the app must send; the code is the judge where a schema cannot say it
    (first-rule-wins reasons, one typed value per GA4 param, 2.0 not being an integer).
    """
    text = {"type": ["string", "null"]}
    amount = {
        "anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": _NONNEGATIVE_NUMBER},
            {"type": "null"},
        ]
    }
    ga4_number = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": _NUMBER.pattern}]}
    params = {
        "description": "An object, or the GA4 export list form; both are kept as one JSON object.",
        "anyOf": [
            {"type": "object"},
            {"type": "array", "items": {"$ref": "#/$defs/ga4_param"}},
            {"type": "null"},
        ],
    }
    ga4_param = {
        "type": "object",
        "required": ["key", "value"],
        "properties": {
            "key": {"type": "string"},
            "value": {
                "type": "object",
                "description": "At most one of the typed values is not null.",
                "properties": {
                    "string_value": text,
                    "int_value": {
                        "anyOf": [
                            {"type": "integer"},
                            {"type": "string", "pattern": f"^{_INTEGER.pattern}$"},
                            {"type": "null"},
                        ]
                    },
                    "float_value": {"anyOf": [*ga4_number["anyOf"], {"type": "null"}]},
                    "double_value": {"anyOf": [*ga4_number["anyOf"], {"type": "null"}]},
                },
            },
        },
    }
    item = {
        "type": "object",
        "required": ["item_id"],
        "properties": {
            "item_id": {
                "description": "Product SKU; an integer is kept as its decimal string.",
                "anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}],
            },
            **dict.fromkeys(ITEM_TEXT_FIELDS, text),
            "price": {**amount, "description": "Unit price after discount, event currency."},
            "discount": {**amount, "description": "Unit discount amount; default 0."},
            "quantity": {
                "description": "Default 1.",
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "string", "pattern": _POSITIVE_INTEGER},
                    {"type": "null"},
                ],
            },
            "item_list_id": {**text, "description": "Falls back to the event-level param."},
            "item_list_name": {**text, "description": "Falls back to the event-level param."},
            "index": {"type": ["integer", "null"], "minimum": 0},
            "in_stock": {
                "description": "May also come from item_params; the item's own field wins.",
                "anyOf": [{"type": "boolean"}, {"enum": [0, 1]}, {"type": "null"}],
            },
            "discounts": {
                "description": "Promotion codes; may also come from item_params.",
                "anyOf": [
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "string", "description": "comma-separated codes"},
                    {"type": "null"},
                ],
            },
            "item_params": params,
        },
    }
    event = {
        "type": "object",
        "required": list(REQUIRED_FIELDS),
        "properties": {
            "event_id": {
                "description": "Client UUID; absent: md5(message_id + ':' + batch_index).",
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": MAX_ID_LENGTH,
            },
            "event_name": {"type": "string", "minLength": 1},
            "event_timestamp": {
                "description": "Device time: ISO-8601 with an offset, or epoch ms / µs.",
                "anyOf": [
                    {"type": "string", "format": "date-time", "pattern": _ISO_WITH_OFFSET},
                    {"type": "integer", "minimum": EPOCH_MILLIS_MIN},
                ],
            },
            "user_id": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH},
            "user_pseudo_id": text,
            "platform": {**text, "description": "IOS, ANDROID or WEB, any case; else UNKNOWN."},
            "app_version": text,
            "event_params": params,
            "items": {
                "type": ["array", "null"],
                "maxItems": MAX_ITEMS,
                "items": {"$ref": "#/$defs/item"},
            },
        },
    }
    batch = {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH_EVENTS,
                "items": {"$ref": "#/$defs/event"},
            }
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Nelo app event message body",
        "description": (
            f"UTF-8 JSON of at most {MAX_BODY_BYTES} bytes: a batch (an object with the key "
            "`events`) or a single event object. Unknown fields are allowed everywhere; "
            "a null optional field counts as absent."
        ),
        "type": "object",
        "if": {"required": ["events"]},
        "then": {"$ref": "#/$defs/batch"},
        "else": {"$ref": "#/$defs/event"},
        "$defs": {"batch": batch, "event": event, "item": item, "ga4_param": ga4_param},
    }
