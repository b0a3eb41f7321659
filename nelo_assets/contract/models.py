"""The pydantic models of an event and its items, and the field rules behind their annotated types."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

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

from nelo_assets.contract.reasons import BrokenRule, first_broken
from nelo_assets.contract.timestamps import Receipt, event_date_of, in_range, parse_event_timestamp
from nelo_assets.contract.values import (
    DEFAULT_CURRENCY,
    GA4_VALUE_KEYS,
    INTEGER,
    MAX_ID_LENGTH,
    MAX_INT32,
    MAX_ITEMS,
    MAX_MONEY,
    PROMOTED_TEXT_PARAMS,
    Platform,
    as_decimal,
    derive_event_id,
    excerpt,
    is_int,
    json_type,
    money,
    nonempty_text,
    optional_text,
    platform_of,
)

# --- field rules: the validators behind the annotated types below ---------------------------------


def _required(value: Any) -> Any:
    """Rule 1: a required field is present, not null and not empty."""
    if value is None or value == "":
        raise BrokenRule("missing_field", " is absent, null or empty")
    return value


def _required_string(value: Any) -> str:
    if not isinstance(_required(value), str):
        raise BrokenRule("invalid_type", f" is a {json_type(value)}: {excerpt(value)}")
    return value


def _at_most_128(value: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise BrokenRule("invalid_type", f" has {len(value)} characters (> {MAX_ID_LENGTH})")
    return value


def _event_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BrokenRule("invalid_type", f" is a {json_type(value)}")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise BrokenRule("invalid_type", f" has {len(value)} characters, not 1..{MAX_ID_LENGTH}")
    return value


def _timestamp(value: Any, info: ValidationInfo) -> datetime:
    """Rules 1 to 4 on the device time: present, a string or an integer, one of the accepted
    forms, and in range for the receipt in the context."""
    if not (isinstance(_required(value), str) or is_int(value)):
        raise BrokenRule("invalid_type", f" is a {json_type(value)}, not a string or integer")
    ts = parse_event_timestamp(value)
    in_range(ts, info.context)
    return ts


def _ga4_value(value: Any, where: str) -> Any:
    """The one typed value of a GA4 `value` object (keys with null values do not count)."""
    if not isinstance(value, dict):
        raise BrokenRule("invalid_type", f"{where}.value is a {json_type(value)}, not an object")
    present = [(key, value[key]) for key in GA4_VALUE_KEYS if value.get(key) is not None]
    if len(present) > 1:
        raise BrokenRule("invalid_type", f"{where}.value has several typed values")
    if not present:
        return None
    key, typed = present[0]
    if key == "string_value" and isinstance(typed, str):
        return typed
    if key == "int_value" and (
        is_int(typed) or (isinstance(typed, str) and INTEGER.fullmatch(typed))
    ):
        return int(typed)
    if key in ("float_value", "double_value"):
        number = as_decimal(typed)
        if number is not None and math.isfinite(float(number)):
            return float(number)
    raise BrokenRule("invalid_type", f"{where}.value.{key} is unusable: {excerpt(typed)}")


def _params(value: Any) -> dict[str, Any]:
    """An object, or the GA4 list form [{"key", "value": {"<type>_value": v}}], as one dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if not isinstance(value, list):
        raise BrokenRule("invalid_type", f" is a {json_type(value)}, not an object or a GA4 list")
    params: dict[str, Any] = {}
    for position, entry in enumerate(value):
        where = f"[{position}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise BrokenRule("invalid_type", f"{where} is not a {{key, value}} entry")
        params[entry["key"]] = _ga4_value(entry.get("value"), where)
    return params


def _item_id(value: Any) -> str:
    if (isinstance(value, str) and value) or is_int(value):
        return str(value)
    raise BrokenRule("invalid_item", f" is not usable: {excerpt(value)}")


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    amount = as_decimal(value)
    if amount is None:
        raise BrokenRule("invalid_item", f" is not a number: {excerpt(value)}")
    if amount < 0:
        raise BrokenRule("invalid_item", f" is negative: {excerpt(value)}")
    if amount > MAX_MONEY:
        raise BrokenRule("invalid_item", f" is too large: {excerpt(value)}")
    return amount


def _quantity(value: Any) -> int:
    if value is None:
        return 1
    if is_int(value) or (isinstance(value, str) and INTEGER.fullmatch(value.strip())):
        quantity = int(value)
        if 1 <= quantity <= MAX_INT32:
            return quantity
    raise BrokenRule("invalid_item", f" is not an integer >= 1: {excerpt(value)}")


def _discount(value: Any) -> Decimal:
    return _amount(value) or Decimal(0)


def _index(value: Any) -> int | None:
    return value if is_int(value) and 0 <= value <= MAX_INT32 else None


def _own_or_param(value: Any, info: ValidationInfo) -> Any:
    """The item's own field, else the same key of its item_params (validated before it)."""
    if value is not None:
        return value
    return info.data.get("item_params", {}).get(info.field_name)


def _in_stock(value: Any, info: ValidationInfo) -> bool | None:
    value = _own_or_param(value, info)
    if isinstance(value, bool):
        return value
    return bool(value) if is_int(value) and value in (0, 1) else None


def _discounts(value: Any, info: ValidationInfo) -> list[str]:
    value = _own_or_param(value, info)
    codes = value.split(",") if isinstance(value, str) else value
    if not isinstance(codes, list):
        return []
    return [code.strip() for code in map(optional_text, codes) if code and code.strip()]


def _items(value: Any, handler: ValidatorFunctionWrapHandler) -> list[Item]:
    """Rules 2, 5 and 6 on `items`: an array, of at most 200, of valid items. Too many items
    outrank a bad item, but not an item_params of the wrong type (rule 2), so all are checked."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BrokenRule("invalid_type", f" is a {json_type(value)}, not an array")
    if len(value) <= MAX_ITEMS:
        return handler(value)
    try:
        handler(value)
    except ValidationError as exc:
        if first_broken(exc).reason != "invalid_item":
            raise
    raise BrokenRule("too_many_items", f" has {len(value)} entries (> {MAX_ITEMS})")


# A null field counts as absent (docs/events.md): each validator maps None to the field's default. A
# field judged even when absent (a required one, one that falls back to item_params) validates
# its default too.
_JUDGED_WHEN_ABSENT: dict[str, Any] = {"default": None, "validate_default": True}
RequiredText = Annotated[str, BeforeValidator(_required_string)]
Text = Annotated[str | None, BeforeValidator(optional_text)]
NonEmptyText = Annotated[str | None, BeforeValidator(nonempty_text)]
Params = Annotated[dict[str, Any], BeforeValidator(_params)]
Amount = Annotated[Decimal | None, BeforeValidator(_amount)]
EventTimestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp)]
TIMESTAMP = TypeAdapter(EventTimestamp)


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
            raise BrokenRule("invalid_item", f" is a {json_type(item)}, not an object")
        return item

    @model_validator(mode="after")
    def _amounts_fit(self) -> Item:
        # Price x quantity and discount x quantity are written as DECIMAL(18,2) too.
        if max(self.price or 0, self.discount) * self.quantity > MAX_MONEY:
            raise BrokenRule("invalid_item", ": amount x quantity is too large")
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


class EventIn(BaseModel):
    """An event object as the app sends it, validated by rules 1 to 6 against the receipt in
    the validation context; fields outside the contract are ignored."""

    event_name: RequiredText = Field(**_JUDGED_WHEN_ABSENT)
    event_timestamp: EventTimestamp = Field(**_JUDGED_WHEN_ABSENT)  # UTC
    user_id: Annotated[RequiredText, AfterValidator(_at_most_128)] = Field(**_JUDGED_WHEN_ABSENT)
    event_id: Annotated[str | None, BeforeValidator(_event_id)] = None
    user_pseudo_id: Text = None
    platform: Annotated[Platform, BeforeValidator(platform_of)] = "UNKNOWN"
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


def build_event(event: EventIn, receipt: Receipt, batch_index: int) -> Event:
    """The valid event with its receipt, its local date, the promoted params and the list fallback."""
    params = event.event_params
    promoted = {name: nonempty_text(params.get(name)) for name in PROMOTED_TEXT_PARAMS}
    # Every value is validated already, by EventIn.
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
        currency=nonempty_text(params.get("currency")) or DEFAULT_CURRENCY,
        value=money(params.get("value")),
        items=[
            item.in_list(promoted["item_list_id"], promoted["item_list_name"])
            for item in event.items
        ],
        **promoted,
    )
