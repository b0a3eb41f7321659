"""What a user does in one app session: browse the lists, click, add to cart, check out.

Each list has its own click-through and conversion behaviour, so the marts tell a story: Deals
of the Day converts best, Recently Viewed gets the most clicks, Trending gets the most views, and
Recommended for You's lower positions are clicked far more than their positions predict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from nelo_assets.simulation.catalogue import (
    CATEGORIES,
    CENT,
    DAY_US,
    Attributes,
    Catalogue,
    Product,
)
from nelo_assets.simulation.users import CartLine, Device, Refund, User
from nelo_assets.transform.business_rules import SESSION_GAP_SECONDS

SECOND_US = 1_000_000
SESSION_GAP_US = SESSION_GAP_SECONDS * SECOND_US  # the pipeline's own session rule
CART_TTL_US = 14 * DAY_US
RECENT_ITEMS = 12
VAT = Decimal("0.16")
REFUND_RATE = 0.1  # purchases refunded, at the start of the buyer's next session
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ItemList:
    list_id: str
    name: str
    click: float  # chance that a view of the list gets a click
    add: float  # chance that a clicked, in-stock item goes to the cart
    purchase: float  # chance that a checkout holding an item from this list ends in a purchase
    size: tuple[int, int]
    # How fast a click's chance falls with the item's position: weight 1 / (position + 1) ** decay.
    position_decay: float = 0.8


TRENDING = ItemList("trending", "Trending", 0.28, 0.20, 0.50, (8, 12))
# Personalised: its items are wanted wherever they are shown, so its lower positions are clicked
# far more than their positions predict (the notebook's position analysis finds this).
RECOMMENDED = ItemList(
    "recommended_for_you", "Recommended for You", 0.33, 0.24, 0.55, (6, 10), position_decay=0.1
)
DEALS = ItemList("deals_of_the_day", "Deals of the Day", 0.36, 0.42, 0.80, (6, 10))
RECENTLY_VIEWED = ItemList("recently_viewed", "Recently Viewed", 0.55, 0.16, 0.45, (3, 10))
SEARCH_RESULTS = ItemList("search_results", "Search Results", 0.48, 0.30, 0.60, (5, 20))
LISTS = (TRENDING, RECOMMENDED, DEALS, RECENTLY_VIEWED, SEARCH_RESULTS)
UNLISTED_PURCHASE_RATE = 0.40  # items reached from a push notification, outside any list
ACTIVITIES = ("trending", "recommended", "deals", "recently_viewed", "search", "deep_link")
ACTIVITY_WEIGHTS = (0.24, 0.22, 0.20, 0.12, 0.16, 0.06)
COUPONS = ("BIENVENIDA10", "NELO15", "ENVIOGRATIS")
LOGIN_METHODS = ("google", "apple", "email", "phone")
PAYMENT_TYPES = ("Tarjeta de crédito", "Tarjeta de débito", "OXXO", "Mercado Pago")
SHIPPING_TIERS = ("Estándar", "Express")


# Not frozen: these are built by the million, and frozen dataclasses are slow to construct.
@dataclass(slots=True)
class AppItem:
    product: Product
    attributes: Attributes  # as the catalogue shows them at the event's time
    price: Decimal  # unit price after discount
    discount: Decimal  # unit discount
    quantity: int | None = None
    index: int | None = None
    item_list: ItemList | None = None  # a list sent on this item only
    in_stock: bool | None = None
    codes: tuple[str, ...] = ()  # promotion codes applied
    coupon: str | None = None
    variant: str | None = None


@dataclass(slots=True)
class AppEvent:
    time_us: int
    name: str
    user_id: str
    device: Device
    event_id: str | None
    session_start_us: int
    session_number: int
    params: dict[str, Any]
    items: tuple[AppItem, ...] = ()
    item_list: ItemList | None = None  # the list the whole event is about


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng` (what uuid.UUID(version=4) does, a few times faster)."""
    bits = (
        rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    )
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class SessionBuilder:
    """Builds the events of one session; `rng` drives behaviour, `ids` only draws identifiers."""

    def __init__(
        self, catalogue: Catalogue, rng: random.Random, ids: random.Random, tz: ZoneInfo
    ) -> None:
        self.catalogue = catalogue
        self.rng = rng
        self.ids = ids
        self.tz = tz

    # --- plumbing ---------------------------------------------------------------------------

    def _wait(self, low_s: float, high_s: float) -> None:
        self.t += int(
            self.rng.triangular(low_s, high_s, low_s + (high_s - low_s) * 0.25) * SECOND_US
        )

    def _emit(
        self,
        name: str,
        params: dict[str, Any],
        items: tuple[AppItem, ...] = (),
        item_list: ItemList | None = None,
    ) -> None:
        self.events.append(
            AppEvent(
                time_us=self.t,
                name=name,
                user_id=self.user.user_id,
                device=self.device,
                event_id=new_uuid(self.ids) if self.device.sends_event_id else None,
                session_start_us=self.start_us,
                session_number=self.user.sessions,
                params=params,
                items=items,
                item_list=item_list,
            )
        )

    def _item(self, number: int, **fields: Any) -> AppItem:
        product = self.catalogue.products[number]
        price, discount = self.catalogue.offer(product, self.t, self.day)
        return AppItem(
            product=product,
            attributes=self.catalogue.attributes(product, self.t),
            price=price,
            discount=discount,
            codes=("DEAL_OF_DAY",) if discount else (),
            **fields,
        )

    def _in_stock(self, number: int) -> bool:
        return self.rng.random() >= self.catalogue.products[number].stock_out_rate

    # --- the session ------------------------------------------------------------------------

    def build(self, user: User, start_us: int) -> list[AppEvent]:
        rng = self.rng
        self.user, self.start_us, self.t, self.events = user, start_us, start_us, []
        self.device = (
            user.devices[0] if len(user.devices) == 1 or rng.random() < 0.8 else user.devices[1]
        )
        self.day = (EPOCH + timedelta(microseconds=start_us)).astimezone(self.tz).date()
        user.sessions += 1
        user.cart = [line for line in user.cart if start_us - line.added_us < CART_TTL_US]
        if user.refund is not None:
            self._refund(user.refund)
            user.refund = None
        if rng.random() < 0.08:
            self._emit("login", {"method": rng.choice(LOGIN_METHODS)})
            self._wait(2, 10)
        self._emit("screen_view", {"screen_name": "home"})
        for _ in range(1 + min(5, int(rng.expovariate(0.7)))):
            self._wait(3, 40)
            self._activity(rng.choices(ACTIVITIES, weights=ACTIVITY_WEIGHTS)[0])
        if user.cart:
            self._wait(5, 60)
            if rng.random() < 0.45:
                self._checkout()
            elif rng.random() < 0.3:
                self._view_cart()
        user.next_free_us = self.t + SESSION_GAP_US
        return self.events

    def _activity(self, kind: str) -> None:
        rng, catalogue, user = self.rng, self.catalogue, self.user
        if kind == "recently_viewed" and len(user.recent) < 3:
            kind = "trending"
        if kind == "deep_link":
            self._deep_link()
            return
        if kind == "search":
            self._search()
            return
        item_list = {"trending": TRENDING, "recommended": RECOMMENDED, "deals": DEALS}.get(
            kind, RECENTLY_VIEWED
        )
        size = rng.randint(*item_list.size)
        if item_list is TRENDING:
            numbers = catalogue.popular(rng, size)
        elif item_list is RECOMMENDED:
            pool = [n for c in user.categories for n in catalogue.by_category[c]]
            numbers = rng.sample(pool, min(size, len(pool)))
        elif item_list is DEALS:
            deals = list(catalogue.deals(self.day))
            numbers = rng.sample(deals, min(size, len(deals)))
        else:
            numbers = user.recent[:size]
        self._browse(item_list, numbers, {})

    def _search(self) -> None:
        rng, catalogue = self.rng, self.catalogue
        category = rng.choice(self.user.categories)
        _, nouns, _, brands = CATEGORIES[category]
        term = rng.choice(
            (rng.choice(nouns).split()[0].lower(), rng.choice(brands), category.lower())
        )
        pool = catalogue.by_category[category]
        matching = [n for n in pool if term.lower() in catalogue.products[n].base.name.lower()]
        others = [n for n in pool if n not in matching]
        rng.shuffle(others)
        numbers = (matching + others)[: rng.randint(*SEARCH_RESULTS.size)]
        self._emit("search", {"search_term": term})
        self._wait(1, 4)
        self._browse(SEARCH_RESULTS, numbers, {"search_term": term})

    def _browse(self, item_list: ItemList, numbers: list[int], extra: dict[str, Any]) -> None:
        rng = self.rng
        shown = tuple(
            self._item(n, index=i, in_stock=self._in_stock(n)) for i, n in enumerate(numbers)
        )
        self._emit("view_item_list", dict(extra), shown, item_list)
        click_chance = item_list.click
        while shown and rng.random() < click_chance:
            self._wait(2, 30)
            weights = [1 / (i + 1) ** item_list.position_decay for i in range(len(shown))]
            clicked = rng.choices(shown, weights=weights)[0]
            self._emit("select_item", {}, (clicked,), item_list)
            if rng.random() < 0.93:
                self._view_item(clicked, item_list)
            click_chance = item_list.click * 0.35  # a second click from the same view is rarer

    def _view_item(self, shown: AppItem, item_list: ItemList | None) -> None:
        rng, user = self.rng, self.user
        self._wait(1, 5)
        number = shown.product.number
        viewed = self._item(number, in_stock=shown.in_stock)
        self._emit("view_item", self._value_params((viewed,)), (viewed,))
        user.recent = [number, *(n for n in user.recent if n != number)][:RECENT_ITEMS]
        add_chance = item_list.add if item_list else 0.15
        if shown.in_stock is False or rng.random() >= add_chance:
            return
        self._wait(10, 90)
        product = viewed.product
        line = CartLine(
            product=number,
            list_index=LISTS.index(item_list) if item_list else None,
            list_sent=item_list is not None and rng.random() < 0.55,
            quantity=rng.choices((1, 2, 3), weights=(85, 10, 5))[0],
            variant=rng.choice(product.variants) if product.variants else None,
            added_us=self.t,
        )
        added = self._item(number, quantity=line.quantity, variant=line.variant, in_stock=True)
        self._emit(
            "add_to_cart",
            self._value_params((added,)),
            (added,),
            item_list if line.list_sent else None,
        )
        if rng.random() < 0.07:
            self._wait(5, 40)
            self._emit("remove_from_cart", self._value_params((added,)), (added,))
            return
        user.cart.append(line)

    def _deep_link(self) -> None:
        number = self.catalogue.popular(self.rng, 1)[0]
        shown = self._item(number, in_stock=self._in_stock(number))
        self._emit("screen_view", {"screen_name": "product", "source": "push_notification"})
        self._view_item(shown, None)

    # --- cart and checkout ------------------------------------------------------------------

    def _cart_items(
        self, carry_lists: bool = False, coupon: str | None = None
    ) -> tuple[AppItem, ...]:
        items = []
        for line in self.user.cart:
            # The app carries the list into checkout only for lines that were added with it.
            carried = (
                carry_lists
                and line.list_sent
                and line.list_index is not None
                and self.rng.random() < 0.5
            )
            items.append(
                self._item(
                    line.product,
                    quantity=line.quantity,
                    variant=line.variant,
                    coupon=coupon,
                    item_list=LISTS[line.list_index] if carried else None,
                )
            )
        return tuple(items)

    def _value_params(self, items: tuple[AppItem, ...]) -> dict[str, Any]:
        value = sum((item.price * (item.quantity or 1) for item in items), Decimal("0.00"))
        return {"currency": "MXN", "value": value}

    def _view_cart(self) -> None:
        items = self._cart_items()
        self._emit("view_cart", self._value_params(items), items)

    def _checkout(self) -> None:
        rng, user = self.rng, self.user
        coupon = rng.choice(COUPONS) if rng.random() < 0.12 else None
        self._view_cart()
        self._wait(5, 30)
        items = self._cart_items(carry_lists=True, coupon=coupon)
        params = self._value_params(items) | ({"coupon": coupon} if coupon else {})
        self._emit("begin_checkout", params, items)
        if rng.random() >= 0.85:
            return
        self._wait(10, 60)
        self._emit(
            "add_shipping_info", params | {"shipping_tier": rng.choice(SHIPPING_TIERS)}, items
        )
        if rng.random() >= 0.9:
            return
        self._wait(10, 60)
        self._emit("add_payment_info", params | {"payment_type": rng.choice(PAYMENT_TYPES)}, items)
        rates = [
            LISTS[line.list_index].purchase
            if line.list_index is not None
            else UNLISTED_PURCHASE_RATE
            for line in user.cart
        ]
        if rng.random() >= sum(rates) / len(rates):
            return
        self._wait(3, 20)
        transaction_id = f"T-{self.ids.getrandbits(48):012X}"
        value = params["value"]
        shipping = Decimal("0.00") if value >= 499 else Decimal("99.00")
        tax = (value * VAT / (1 + VAT)).quantize(CENT)
        self._emit(
            "purchase",
            params | {"transaction_id": transaction_id, "tax": tax, "shipping": shipping},
            items,
        )
        if rng.random() < REFUND_RATE:
            user.refund = Refund(transaction_id, list(user.cart))
        user.cart = []

    def _refund(self, refund: Refund) -> None:
        items = tuple(
            self._item(line.product, quantity=line.quantity, variant=line.variant)
            for line in refund.lines
        )
        self._emit(
            "refund", self._value_params(items) | {"transaction_id": refund.transaction_id}, items
        )
        self._wait(2, 10)
