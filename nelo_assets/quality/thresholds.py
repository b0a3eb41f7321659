"""Limits of the soft (WARN) data checks: their defaults, their variables and their validation.

The values arrive as text (from the checks resource, which takes each from its environment
variable when set) and are validated here, so a bad setting fails with a message naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nelo_assets.settings import SettingsError

# GA4 e-commerce names from docs/events.md plus the common app events the Nelo app sends; any other
# name is valid and kept, but counted by a WARN check so a typo in the app is seen early.
KNOWN_EVENT_NAMES = frozenset(
    {
        "view_item_list",
        "select_item",
        "view_item",
        "add_to_cart",
        "remove_from_cart",
        "view_cart",
        "begin_checkout",
        "add_shipping_info",
        "add_payment_info",
        "purchase",
        "refund",
        "screen_view",
        "login",
        "logout",
        "sign_up",
        "search",
        "view_search_results",
        "session_start",
        "first_open",
        "app_open",
        "share",
        "select_content",
        "select_promotion",
        "view_promotion",
        "add_to_wishlist",
    }
)

# The environment variable behind each setting, by Thresholds field.
VARIABLES = {
    "max_quarantine_rate": "NELO_MAX_QUARANTINE_RATE",
    "max_unknown_platform_share": "NELO_MAX_UNKNOWN_PLATFORM_SHARE",
    "duplicate_window_days": "NELO_DUPLICATE_WINDOW_DAYS",
    "known_event_names": "NELO_KNOWN_EVENT_NAMES",
}


@dataclass(frozen=True)
class Thresholds:
    """Every limit a WARN check compares against, with its default."""

    max_quarantine_rate: float = 0.05  # silver-quarantined / bronze rows of a partition
    max_unknown_platform_share: float = 0.10  # events whose platform is UNKNOWN
    duplicate_window_days: int = 7  # partitions searched on each side for a copy of an event
    known_event_names: frozenset[str] = KNOWN_EVENT_NAMES  # plus the extra names configured

    @classmethod
    def parse(cls, settings: Mapping[str, str | None]) -> Thresholds:
        """Thresholds from text settings by field name; a missing or empty one keeps its default."""
        extra = settings.get("known_event_names") or ""
        return cls(
            max_quarantine_rate=_number(settings, "max_quarantine_rate", cls.max_quarantine_rate),
            max_unknown_platform_share=_number(
                settings, "max_unknown_platform_share", cls.max_unknown_platform_share
            ),
            duplicate_window_days=int(
                _number(settings, "duplicate_window_days", cls.duplicate_window_days, upper=None)
            ),
            known_event_names=KNOWN_EVENT_NAMES
            | {name.strip() for name in extra.split(",") if name.strip()},
        )


def _number(
    settings: Mapping[str, str | None], field: str, default: float, upper: float | None = 1.0
) -> float:
    raw = settings.get(field)
    if not raw:
        return default
    name = VARIABLES[field]
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if value < 0 or (upper is not None and value > upper):
        bounds = f"between 0 and {upper}" if upper is not None else "at least 0"
        raise SettingsError(f"{name}={raw!r} must be {bounds}")
    return value
