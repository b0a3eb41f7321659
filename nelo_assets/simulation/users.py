"""The signed-in users, their devices (each app build has its own wire habits) and their state."""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate

from nelo_assets.simulation.catalogue import CATEGORIES

# (platform, share, builds); a build is (app_version, share, platform as sent, timestamp form,
# GA4 list-form params, numeric item ids, prices as strings). Old builds carry the odd habits.
BUILDS = (
    (
        "IOS",
        0.45,
        (
            ("5.4.1", 0.5, "IOS", "iso_offset", False, False, False),
            ("5.3.0", 0.35, "IOS", "iso_offset", False, False, False),
            ("4.9.2", 0.15, "iOS", "iso_z", False, False, False),
        ),
    ),
    (
        "ANDROID",
        0.5,
        (
            ("5.4.0", 0.5, "ANDROID", "millis", False, False, False),
            ("5.2.3", 0.3, "ANDROID", "micros", True, False, False),
            ("3.8.1", 0.2, "android", "millis", False, True, True),
        ),
    ),
    (
        "WEB",
        0.05,
        (
            ("web-2026.11", 0.7, "WEB", "iso_z", False, False, False),
            ("web-2025.06", 0.3, "web", "iso_z", False, False, False),
        ),
    ),
)
NO_PLATFORM_RATE = 0.005  # a broken SDK build that forgets the field
WEB_WITHOUT_EVENT_ID_RATE = 0.3
SECOND_DEVICE_RATE = 0.05
PICK_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Device:
    pseudo_id: str
    platform: str | None  # as the app sends it; None when the build omits it
    app_version: str
    timestamp_form: str  # iso_offset, iso_z, millis or micros
    ga4_params: bool
    numeric_item_ids: bool
    string_prices: bool
    sends_event_id: bool


@dataclass(slots=True)
class CartLine:
    product: int
    list_index: int | None  # the list the product was added from (ground truth)
    list_sent: bool  # whether add_to_cart carried that list
    quantity: int
    variant: str | None
    added_us: int


@dataclass(slots=True)
class Refund:
    transaction_id: str
    lines: list[CartLine]


@dataclass(slots=True)
class User:
    user_id: str
    devices: tuple[Device, ...]
    categories: tuple[str, ...]
    recent: list[int] = field(default_factory=list)  # product numbers, most recent first
    cart: list[CartLine] = field(default_factory=list)
    refund: Refund | None = None
    next_free_us: int = 0  # a new session may start only after this
    sessions: int = 0


def _pick(rng: random.Random, options: tuple, share_index: int) -> tuple:
    return rng.choices(options, weights=[o[share_index] for o in options])[0]


def _device(rng: random.Random) -> Device:
    _, _, builds = _pick(rng, BUILDS, 1)
    version, _, sent, form, ga4, numeric_ids, string_prices = _pick(rng, builds, 1)
    return Device(
        pseudo_id=f"{rng.getrandbits(128):032x}",
        platform=None if rng.random() < NO_PLATFORM_RATE else sent,
        app_version=version,
        timestamp_form=form,
        ga4_params=ga4,
        numeric_item_ids=numeric_ids,
        string_prices=string_prices,
        sends_event_id=not (sent.upper() == "WEB" and rng.random() < WEB_WITHOUT_EVENT_ID_RATE),
    )


class Population:
    """Users with long-tailed activity; a user is picked only when no session of theirs is open."""

    def __init__(self, seed: int, count: int) -> None:
        rng = random.Random(f"{seed}:users")
        categories = list(CATEGORIES)
        self.users: list[User] = []
        weights = []
        for _ in range(count):
            devices = [_device(rng)]
            if rng.random() < SECOND_DEVICE_RATE:
                devices.append(_device(rng))
            self.users.append(
                User(
                    user_id=f"usr_{rng.getrandbits(64):016x}",
                    devices=tuple(devices),
                    categories=tuple(rng.sample(categories, 2)),
                )
            )
            weights.append(min(50.0, rng.paretovariate(1.3)))
        self._cumulative = list(accumulate(weights))

    def pick(self, rng: random.Random, t_us: int) -> User | None:
        total = self._cumulative[-1]
        for _ in range(PICK_ATTEMPTS):
            index = bisect_left(self._cumulative, rng.random() * total)
            user = self.users[min(index, len(self.users) - 1)]
            if user.next_free_us < t_us:
                return user
        return None
