"""The event contract of docs/events.md in code: the only place that decides valid, routable or quarantined.

`route_message` is what ingestion needs (the time of each event), `parse_message` / `parse_event`
what silver needs (the whole event). None of them raises on any message content: every failure,
expected or not, becomes a `QuarantineRecord`.

Pydantic does the judging: `Item` and `_EventIn` are validated straight from the JSON objects,
each field's annotated type carries its rules, and of all the rules an event breaks, the first
in docs/events.md's order gives its reason (`_first_broken`).
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
from typing import Annotated, Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import ErrorDetails

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
# The order in which docs/events.md applies an event's rules: the first one broken gives the reason.
# invalid_shape stands first for a failure the rules do not foresee (a bug here), kept all the same.
_RULE_ORDER: tuple[Reason, ...] = (
    "invalid_shape",
    "missing_field",
    "invalid_type",
    "invalid_timestamp",
    "timestamp_out_of_range",
    "too_many_items",
    "invalid_item",
)
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


class _Broken(ValueError):
    """A rule broken by a field, raised inside validation: its detail is the field's place, as
    pydantic reports it, followed by `rest` (`items[1]` + `.price is negative: -1`)."""

    def __init__(self, reason: Reason, rest: str) -> None:
        super().__init__(f"{reason}: {rest}")
        self.reason: Reason = reason
        self.rest = rest


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
class _Receipt:
    """What the pipeline knows of a message besides its body; the validation context."""

    message_id: str
    received_at: datetime  # UTC
    timezone: str
    start_date: date


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


def _money(value: Any) -> Decimal | None:
    amount = _decimal(value)
    return amount if amount is not None and abs(amount) <= MAX_MONEY else None


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


def _in_range(ts: datetime, receipt: _Receipt) -> date:
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


def _known_date(event: dict[str, Any], timezone: str) -> date | None:
    try:
        return event_date_of(parse_event_timestamp(event.get("event_timestamp")), timezone)
    except (ContractError, OverflowError):
        return None


# --- field rules: the validators behind the annotated types below ---------------------------------


def _required(value: Any) -> Any:
    """Rule 1: a required field is present, not null and not empty."""
    if value is None or value == "":
        raise _Broken("missing_field", " is absent, null or empty")
    return value


def _required_string(value: Any) -> str:
    if not isinstance(_required(value), str):
        raise _Broken("invalid_type", f" is a {_json_type(value)}: {_excerpt(value)}")
    return value


def _at_most_128(value: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise _Broken("invalid_type", f" has {len(value)} characters (> {MAX_ID_LENGTH})")
    return value


def _event_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Broken("invalid_type", f" is a {_json_type(value)}")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise _Broken("invalid_type", f" has {len(value)} characters, not 1..{MAX_ID_LENGTH}")
    return value


def _timestamp(value: Any, info: ValidationInfo) -> datetime:
    """Rules 1 to 4 on the device time: present, a string or an integer, one of the accepted
    forms, and in range for the receipt in the context."""
    if not (isinstance(_required(value), str) or _is_int(value)):
        raise _Broken("invalid_type", f" is a {_json_type(value)}, not a string or integer")
    ts = parse_event_timestamp(value)
    _in_range(ts, info.context)
    return ts


def _ga4_value(value: Any, where: str) -> Any:
    """The one typed value of a GA4 `value` object (keys with null values do not count)."""
    if not isinstance(value, dict):
        raise _Broken("invalid_type", f"{where}.value is a {_json_type(value)}, not an object")
    present = [(key, value[key]) for key in GA4_VALUE_KEYS if value.get(key) is not None]
    if len(present) > 1:
        raise _Broken("invalid_type", f"{where}.value has several typed values")
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
    raise _Broken("invalid_type", f"{where}.value.{key} is unusable: {_excerpt(typed)}")


def _params(value: Any) -> dict[str, Any]:
    """An object, or the GA4 list form [{"key", "value": {"<type>_value": v}}], as one dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if not isinstance(value, list):
        raise _Broken("invalid_type", f" is a {_json_type(value)}, not an object or a GA4 list")
    params: dict[str, Any] = {}
    for position, entry in enumerate(value):
        where = f"[{position}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise _Broken("invalid_type", f"{where} is not a {{key, value}} entry")
        params[entry["key"]] = _ga4_value(entry.get("value"), where)
    return params


def _item_id(value: Any) -> str:
    if (isinstance(value, str) and value) or _is_int(value):
        return str(value)
    raise _Broken("invalid_item", f" is not usable: {_excerpt(value)}")


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount = _decimal(value)
    if amount is None:
        raise _Broken("invalid_item", f" is not a number: {_excerpt(value)}")
    if amount < 0:
        raise _Broken("invalid_item", f" is negative: {_excerpt(value)}")
    if amount > MAX_MONEY:
        raise _Broken("invalid_item", f" is too large: {_excerpt(value)}")
    return amount


def _quantity(value: Any) -> int:
    if value is None:
        return 1
    if _is_int(value) or (isinstance(value, str) and _INTEGER.fullmatch(value.strip())):
        quantity = int(value)
        if 1 <= quantity <= MAX_INT32:
            return quantity
    raise _Broken("invalid_item", f" is not an integer >= 1: {_excerpt(value)}")


def _discount(value: Any) -> Decimal:
    return _amount(value) or Decimal(0)


def _index(value: Any) -> int | None:
    return value if _is_int(value) and 0 <= value <= MAX_INT32 else None


def _own_or_param(value: Any, info: ValidationInfo) -> Any:
    """The item's own field, else the same key of its item_params (validated before it)."""
    if value is not None:
        return value
    return info.data.get("item_params", {}).get(info.field_name)


def _in_stock(value: Any, info: ValidationInfo) -> bool | None:
    value = _own_or_param(value, info)
    if isinstance(value, bool):
        return value
    return bool(value) if _is_int(value) and value in (0, 1) else None


def _discounts(value: Any, info: ValidationInfo) -> list[str]:
    value = _own_or_param(value, info)
    codes = value.split(",") if isinstance(value, str) else value
    if not isinstance(codes, list):
        return []
    return [code.strip() for code in map(_text, codes) if code and code.strip()]


def _items(value: Any, handler: ValidatorFunctionWrapHandler) -> list[Item]:
    """Rules 2, 5 and 6 on `items`: an array, of at most 200, of valid items. Too many items
    outrank a bad item, but not an item_params of the wrong type (rule 2), so all are checked."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Broken("invalid_type", f" is a {_json_type(value)}, not an array")
    if len(value) <= MAX_ITEMS:
        return handler(value)
    try:
        handler(value)
    except ValidationError as exc:
        if _first_broken(exc).reason != "invalid_item":
            raise
    raise _Broken("too_many_items", f" has {len(value)} entries (> {MAX_ITEMS})")


# A null field counts as absent (docs/events.md): each validator maps None to the field's default. A
# field judged even when absent (a required one, one that falls back to item_params) validates
# its default too.
_JUDGED_WHEN_ABSENT: dict[str, Any] = {"default": None, "validate_default": True}
RequiredText = Annotated[str, BeforeValidator(_required_string)]
Text = Annotated[str | None, BeforeValidator(_text)]
NonEmptyText = Annotated[str | None, BeforeValidator(_nonempty_text)]
Params = Annotated[dict[str, Any], BeforeValidator(_params)]
Amount = Annotated[Decimal | None, BeforeValidator(_amount)]
EventTimestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp)]
_TIMESTAMP = TypeAdapter(EventTimestamp)


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the detail names it: ("items", 1, "price") -> items[1].price."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]


def _contract_error(error: ErrorDetails) -> ContractError:
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ContractError):
        return cause
    if isinstance(cause, _Broken):
        return ContractError(cause.reason, _where(error["loc"]) + cause.rest)
    return _unexpected(ValueError(f"{_where(error['loc'])}: {error['msg']}"))


def _first_broken(exc: ValidationError) -> ContractError:
    """Of every rule an event breaks, the first in docs/events.md's order; on a tie, the first field."""
    broken = [_contract_error(error) for error in exc.errors()]
    return min(broken, key=lambda err: _RULE_ORDER.index(err.reason))


# --- the models -----------------------------------------------------------------------------------


class Item(BaseModel):
    """One item, validated from its JSON object by rule 6 (invalid_item) and, for item_params,
    rule 2 (invalid_type)."""

    model_config = ConfigDict(frozen=True)

    # First: in_stock and discounts fall back to it. A factory, not {}: no copy per item.
    item_params: Params = Field(default_factory=dict)
    item_id: Annotated[str, BeforeValidator(_item_id)] = Field(**_JUDGED_WHEN_ABSENT)
    item_name: Text = None
    item_brand: Text = None
    item_category: Text = None
    item_category2: Text = None
    item_category3: Text = None
    item_category4: Text = None
    item_category5: Text = None
    item_variant: Text = None
    price: Amount = None
    discount: Annotated[Decimal, BeforeValidator(_discount)] = Decimal(0)
    quantity: Annotated[int, BeforeValidator(_quantity)] = 1
    coupon: Text = None
    item_list_id: NonEmptyText = None  # its own; Event.items have the event-level fallback
    item_list_name: NonEmptyText = None
    index: Annotated[int | None, BeforeValidator(_index)] = None
    in_stock: Annotated[bool | None, BeforeValidator(_in_stock)] = Field(**_JUDGED_WHEN_ABSENT)
    discounts: Annotated[list[str], BeforeValidator(_discounts)] = Field(**_JUDGED_WHEN_ABSENT)

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, item: Any) -> Any:
        if not isinstance(item, dict):
            raise _Broken("invalid_item", f" is a {_json_type(item)}, not an object")
        return item

    @model_validator(mode="after")
    def _amounts_fit(self) -> Item:
        # Price x quantity and discount x quantity are written as DECIMAL(18,2) too.
        if max(self.price or 0, self.discount) * self.quantity > MAX_MONEY:
            raise _Broken("invalid_item", ": amount x quantity is too large")
        return self

    def in_list(self, list_id: str | None, list_name: str | None) -> Item:
        """The item with the event's list where it names none itself, each field on its own."""
        if (self.item_list_id or not list_id) and (self.item_list_name or not list_name):
            return self
        return self.model_copy(
            update={
                "item_list_id": self.item_list_id or list_id,
                "item_list_name": self.item_list_name or list_name,
            }
        )


class _EventIn(BaseModel):
    """An event object as the app sends it, validated by rules 1 to 6 against the receipt in
    the validation context; fields outside the contract are ignored."""

    event_name: RequiredText = Field(**_JUDGED_WHEN_ABSENT)
    event_timestamp: EventTimestamp = Field(**_JUDGED_WHEN_ABSENT)  # UTC
    user_id: Annotated[RequiredText, AfterValidator(_at_most_128)] = Field(**_JUDGED_WHEN_ABSENT)
    event_id: Annotated[str | None, BeforeValidator(_event_id)] = None
    user_pseudo_id: Text = None
    platform: Annotated[Platform, BeforeValidator(_platform)] = "UNKNOWN"
    app_version: Text = None
    event_params: Params = Field(default_factory=dict)
    items: Annotated[list[Item], WrapValidator(_items)] = Field(default_factory=list)


class Event(BaseModel):
    """A valid event, as silver publishes it: the event's fields, its receipt, its local date and
    the promoted params."""

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


def _event(event: _EventIn, receipt: _Receipt, batch_index: int) -> Event:
    """The valid event with its receipt, its local date, the promoted params and the list fallback."""
    params = event.event_params
    promoted = {name: _nonempty_text(params.get(name)) for name in PROMOTED_TEXT_PARAMS}
    # Every value is validated already, by _EventIn.
    return Event.model_construct(
        event_id=event.event_id or derive_event_id(receipt.message_id, batch_index),
        message_id=receipt.message_id,
        batch_index=batch_index,
        received_at=receipt.received_at,
        event_name=event.event_name,
        event_timestamp=event.event_timestamp,
        event_date=event_date_of(event.event_timestamp, receipt.timezone),
        user_id=event.user_id,
        user_pseudo_id=event.user_pseudo_id,
        platform=event.platform,
        app_version=event.app_version,
        event_params=params,
        currency=_nonempty_text(params.get("currency")) or DEFAULT_CURRENCY,
        value=_money(params.get("value")),
        items=[
            item.in_list(promoted["item_list_id"], promoted["item_list_name"])
            for item in event.items
        ],
        **promoted,
    )


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


def _unexpected(exc: Exception) -> ContractError:
    # A bug in this module must still keep the message (R7); the detail makes it findable.
    return ContractError(
        "invalid_shape", f"unexpected error checking the contract: {type(exc).__name__}: {exc}"
    )


def _receipt(message_id: str, received_at: datetime, timezone: str, start_date: date) -> _Receipt:
    # A bad time zone is configuration, not message content: it raises here, loudly.
    _zone(timezone)
    # A naive receive time is taken as UTC rather than failing every comparison.
    if received_at.utcoffset() is None:
        received_at = received_at.replace(tzinfo=UTC)
    return _Receipt(message_id, received_at.astimezone(UTC), timezone, start_date)


def _quarantine(
    receipt: _Receipt,
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


def _validated(event: dict[str, Any], receipt: _Receipt) -> _EventIn:
    try:
        return _EventIn.model_validate(event, context=receipt)
    except ValidationError as exc:
        raise _first_broken(exc) from None


def _parse(receipt: _Receipt, event: dict[str, Any], member: _Member) -> Event:
    return _event(_validated(event, receipt), receipt, member.batch_index)


def _route(receipt: _Receipt, event: dict[str, Any], member: _Member) -> RoutableEvent:
    try:
        ts = _TIMESTAMP.validate_python(event.get("event_timestamp"), context=receipt)
    except ValidationError as exc:
        # Without a usable time the event is quarantined here, for the first rule it breaks,
        # which may come before the time's own (a missing user_id, say).
        _validated(event, receipt)
        raise _first_broken(exc) from None
    # Whatever else is wrong, a usable time routes the event (silver quarantines it).
    return RoutableEvent(member.batch_index, ts, event_date_of(ts, receipt.timezone), member.raw)


def _check_member(
    receipt: _Receipt, member: _Member, check: Callable[[_Receipt, dict[str, Any], _Member], _T]
) -> _T | QuarantineRecord:
    """`check` one member; any failure, expected or not, becomes its quarantine record."""
    event = member.value
    try:
        if not isinstance(event, dict):
            raise ContractError(
                "invalid_shape", f"batch member is a JSON {_json_type(event)}, not an object"
            )
        return check(receipt, event, member)
    except ContractError as err:
        known = _known_date(event, receipt.timezone) if isinstance(event, dict) else None
        return _quarantine(receipt, member.batch_index, known, err, member.raw)
    except Exception as exc:
        return _quarantine(receipt, member.batch_index, None, _unexpected(exc), member.raw)


def _check_body(
    receipt: _Receipt,
    body: bytes | str,
    check: Callable[[_Receipt, dict[str, Any], _Member], _T],
) -> tuple[list[_T], list[QuarantineRecord]]:
    try:
        members = _members(body)
    except Exception as exc:
        err = exc if isinstance(exc, ContractError) else _unexpected(exc)
        return [], [_quarantine(receipt, None, None, err, _raw_body(body))]
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
    return _check_member(receipt, _Member(batch_index, value, raw), _parse)


def route_message(
    message_id: str, received_at: datetime, body: bytes | str, *, timezone: str, start_date: date
) -> RoutedMessage:
    """What ingestion does: each event with a present, valid, in-range time is routable; the
    others, and a message that fails whole, are quarantined with the first rule they break."""
    receipt = _receipt(message_id, received_at, timezone, start_date)
    return RoutedMessage(*_check_body(receipt, body, _route))


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
