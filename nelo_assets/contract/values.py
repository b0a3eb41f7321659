"""The contract's limits and the reading of single JSON values (numbers, texts, the platform)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

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

NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
# Bounded so int() never meets Python's 4300-digit limit; no usable integer is that long.
INTEGER = re.compile(r"[+-]?\d{1,30}", re.ASCII)
EXCERPT_CHARS = 80


def derive_event_id(message_id: str, batch_index: int) -> str:
    return hashlib.md5(f"{message_id}:{batch_index}".encode()).hexdigest()


def is_int(value: Any) -> bool:
    # JSON true/false arrive as Python bools, which are ints.
    return isinstance(value, int) and not isinstance(value, bool)


def json_type(value: Any) -> str:
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


def excerpt(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_decimal(value: Any) -> Decimal | None:
    """A JSON number or numeric string as a finite Decimal; None when it is neither."""
    if is_int(value):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return Decimal(value.strip())
    return None


def optional_text(value: Any) -> str | None:
    """An optional string field: null is absent; any other non-string is kept as its JSON text."""
    if value is None or isinstance(value, str):
        return value
    return compact_json(value)


def nonempty_text(value: Any) -> str | None:
    text = optional_text(value)
    return text or None


def platform_of(value: Any) -> Platform:
    if isinstance(value, str) and value.strip().upper() in PLATFORMS:
        return value.strip().upper()  # type: ignore[return-value]
    return "UNKNOWN"


def money(value: Any) -> Decimal | None:
    amount = as_decimal(value)
    return amount if amount is not None and abs(amount) <= MAX_MONEY else None
