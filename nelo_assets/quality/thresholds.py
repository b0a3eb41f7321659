"""Limits of the soft (WARN) data checks, read from the environment with documented defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from nelo_assets.settings import SettingsError

# GA4 e-commerce names from EVENTS.md plus the common app events the Nelo app sends; any other
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


@dataclass(frozen=True)
class Thresholds:
    """Every limit a WARN check compares against; `from_env` documents the variables."""

    max_quarantine_rate: float = 0.05  # NELO_MAX_QUARANTINE_RATE: silver-quarantined / bronze rows
    max_unknown_platform_share: float = 0.10  # NELO_MAX_UNKNOWN_PLATFORM_SHARE
    freshness_hours: float = 6.0  # NELO_FRESHNESS_HOURS: newest bronze receipt may be this old
    duplicate_window_days: int = 7  # NELO_DUPLICATE_WINDOW_DAYS: partitions searched each side
    known_event_names: frozenset[str] = KNOWN_EVENT_NAMES  # plus NELO_KNOWN_EVENT_NAMES (a,b,c)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Thresholds:
        env = os.environ if environ is None else environ
        extra = {n.strip() for n in env.get("NELO_KNOWN_EVENT_NAMES", "").split(",") if n.strip()}
        return cls(
            max_quarantine_rate=_number(env, "NELO_MAX_QUARANTINE_RATE", cls.max_quarantine_rate),
            max_unknown_platform_share=_number(
                env, "NELO_MAX_UNKNOWN_PLATFORM_SHARE", cls.max_unknown_platform_share
            ),
            freshness_hours=_number(env, "NELO_FRESHNESS_HOURS", cls.freshness_hours, upper=None),
            duplicate_window_days=int(
                _number(env, "NELO_DUPLICATE_WINDOW_DAYS", cls.duplicate_window_days, upper=None)
            ),
            known_event_names=KNOWN_EVENT_NAMES | extra,
        )


def _number(env: Mapping[str, str], name: str, default: float, upper: float | None = 1.0) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not a number") from exc
    if value < 0 or (upper is not None and value > upper):
        bounds = f"between 0 and {upper}" if upper is not None else "at least 0"
        raise SettingsError(f"{name}={raw!r} must be {bounds}")
    return value
