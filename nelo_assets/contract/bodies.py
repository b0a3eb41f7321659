"""A message body to its events: size, UTF-8, strict JSON, and the batch or single-event shape."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from nelo_assets.contract.reasons import ContractError
from nelo_assets.contract.values import (
    EXCERPT_CHARS,
    MAX_BATCH_EVENTS,
    MAX_BODY_BYTES,
    compact_json,
    json_type,
)

# A JSON escape of a UTF-16 surrogate: only then can a decoded string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {text[:EXCERPT_CHARS]} is out of range")
    return number


def loads_strict(text: str) -> Any:
    """json.loads that refuses what could not be written back as JSON text in UTF-8.

    NaN/Infinity are not JSON, a number beyond float range would come back as Infinity, and an
    escaped lone surrogate cannot be encoded in UTF-8 (raw columns, Parquet).
    """
    value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    if _SURROGATE_ESCAPE.search(text):
        try:
            compact_json(value).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone UTF-16 surrogate") from None
    return value


def _bytes(body: bytes | str) -> bytes:
    # surrogatepass lets a str holding a lone surrogate reach the UTF-8 check (and fail it).
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)


def raw_body(body: bytes | str) -> str:
    return _bytes(body).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Member:
    batch_index: int
    value: Any
    raw: str  # single-event body: the body text unchanged; batch member: its compact JSON


def members_of(body: bytes | str) -> list[Member]:
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
        raise ContractError("invalid_shape", f"body is a JSON {json_type(value)}, not an object")
    if "events" not in value:
        return [Member(0, value, text)]
    events = value["events"]
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_BATCH_EVENTS:
        size = f"{len(events)} members" if isinstance(events, list) else json_type(events)
        raise ContractError(
            "invalid_shape", f"events must be an array of 1..{MAX_BATCH_EVENTS}, got {size}"
        )
    try:
        return [Member(n, member, compact_json(member)) for n, member in enumerate(events)]
    except RecursionError:  # nesting that json.loads just managed can still be too deep to dump
        raise ContractError("invalid_json", "body is nested too deeply") from None
