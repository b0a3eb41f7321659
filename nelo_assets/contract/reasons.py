"""The reason codes of docs/events.md, the order in which an event's rules are applied, and
the errors that carry a broken rule to its quarantine record."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import ValidationError
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


class ContractError(ValueError):
    """A rule of docs/events.md is broken: `reason` is its code, `detail` says what exactly."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail


class BrokenRule(ValueError):
    """A rule broken by a field, raised inside validation: its detail is the field's place, as
    pydantic reports it, followed by `rest` (`items[1]` + `.price is negative: -1`)."""

    def __init__(self, reason: Reason, rest: str) -> None:
        super().__init__(f"{reason}: {rest}")
        self.reason: Reason = reason
        self.rest = rest


def unexpected_error(exc: Exception) -> ContractError:
    # A bug in the contract's code must still keep the message (R7); the detail makes it findable.
    return ContractError(
        "invalid_shape", f"unexpected error checking the contract: {type(exc).__name__}: {exc}"
    )


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as the detail names it: ("items", 1, "price") -> items[1].price."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)[1:]


def _contract_error(error: ErrorDetails) -> ContractError:
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, ContractError):
        return cause
    if isinstance(cause, BrokenRule):
        return ContractError(cause.reason, _where(error["loc"]) + cause.rest)
    return unexpected_error(ValueError(f"{_where(error['loc'])}: {error['msg']}"))


def first_broken(exc: ValidationError) -> ContractError:
    """Of every rule an event breaks, the first in docs/events.md's order; on a tie, the first field."""
    broken = [_contract_error(error) for error in exc.errors()]
    return min(broken, key=lambda err: _RULE_ORDER.index(err.reason))
