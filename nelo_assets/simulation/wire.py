"""How the app writes an event on the wire: every form the contract accepts, in realistic mixes.

Each device build has habits (timestamp form, GA4 list-form params, numeric item ids, prices as
strings); on top of that the app puts the list on the items, at event level (the GA4 fallback),
or both, and sends `in_stock` / `discounts` either as item fields or inside `item_params`.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from nelo_assets.simulation.sessions import AppEvent, AppItem, ItemList
from nelo_assets.simulation.users import Device

TIMESTAMP_FORMS = ("iso_offset", "iso_z", "millis", "micros")
OTHER_FORM_RATE = 0.05  # a code path of the app that stamps events its own way
NO_CURRENCY_RATE = 0.2  # the contract defaults it to MXN
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(t_us: int, form: str, tz: ZoneInfo) -> str | int:
    if form == "millis":
        return t_us // 1000
    if form == "micros":
        return t_us
    moment = EPOCH + timedelta(microseconds=t_us)
    if form == "iso_offset":
        return moment.astimezone(tz).isoformat(timespec="milliseconds")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def ga4_list(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The GA4 export form: [{"key": k, "value": {"<type>_value": v}}]."""
    entries = []
    for key, value in params.items():
        if isinstance(value, bool):
            typed = {"int_value": int(value)}
        elif isinstance(value, int):
            typed = {"int_value": value}
        elif isinstance(value, float | Decimal):
            typed = {"double_value": float(value)}
        elif isinstance(value, list | tuple):
            typed = {"string_value": ",".join(value)}
        else:
            typed = {"string_value": str(value)}
        entries.append({"key": key, "value": typed})
    return entries


def _money(value: Decimal, device: Device) -> float | str:
    return str(value) if device.string_prices else float(value)


class WireWriter:
    """Renders `AppEvent`s as the JSON objects the app uploads; `rng` draws only wire choices."""

    def __init__(self, rng: random.Random, tz: ZoneInfo) -> None:
        self.rng = rng
        self.tz = tz

    def event(self, event: AppEvent) -> dict[str, Any]:
        rng, device = self.rng, event.device
        out: dict[str, Any] = {}
        if event.event_id is not None:
            out["event_id"] = event.event_id
        out["event_name"] = event.name
        form = device.timestamp_form
        if rng.random() < OTHER_FORM_RATE:
            form = rng.choice(TIMESTAMP_FORMS)
        out["event_timestamp"] = timestamp(event.time_us, form, self.tz)
        out["user_id"] = event.user_id
        out["user_pseudo_id"] = device.pseudo_id
        if device.platform is not None:
            out["platform"] = device.platform
        out["app_version"] = device.app_version
        params: dict[str, Any] = {
            "ga_session_id": event.session_start_us // 1_000_000,
            "ga_session_number": event.session_number,
            "engagement_time_msec": rng.randint(100, 30_000),
        }
        params.update((key, _plain(value)) for key, value in event.params.items())
        if "currency" in params and rng.random() < NO_CURRENCY_RATE:
            del params["currency"]
        item_list_name = item_list_id = None  # what the items carry of the event's list
        if event.item_list is not None:
            placement = rng.random()
            if placement < 0.45 or placement >= 0.8:  # on the items (0.8..: on both)
                item_list_id, item_list_name = event.item_list.list_id, event.item_list.name
            if placement >= 0.45:  # at event level only the GA4 fallback gives the items a list
                params["item_list_id"] = event.item_list.list_id
                params["item_list_name"] = event.item_list.name
            if placement >= 0.9:  # split: the name on the items, the id at event level
                item_list_id = None
        out["event_params"] = ga4_list(params) if device.ga4_params else params
        if event.items:
            out["items"] = [
                self._item(item, device, item_list_id, item_list_name) for item in event.items
            ]
        return out

    def _item(
        self, item: AppItem, device: Device, list_id: str | None, list_name: str | None
    ) -> dict[str, Any]:
        rng, attrs = self.rng, item.attributes
        out: dict[str, Any] = {
            "item_id": int(item.product.item_id)
            if device.numeric_item_ids
            else item.product.item_id,
            "item_name": attrs.name,
            "item_brand": attrs.brand,
            "item_category": attrs.category,
            "item_category2": attrs.category2,
        }
        if item.variant is not None:
            out["item_variant"] = item.variant
        out["price"] = _money(item.price, device)
        if item.discount:
            out["discount"] = _money(item.discount, device)
        if item.quantity is not None:
            out["quantity"] = item.quantity
        if item.coupon is not None:
            out["coupon"] = item.coupon
        own_list: ItemList | None = item.item_list
        if own_list is not None:
            list_id, list_name = own_list.list_id, own_list.name
        if list_id is not None:
            out["item_list_id"] = list_id
        if list_name is not None:
            out["item_list_name"] = list_name
        if item.index is not None:
            out["index"] = item.index
        extra: dict[str, Any] = {}
        if item.in_stock is not None:
            where = rng.random()
            if where < 0.55:
                out["in_stock"] = item.in_stock
            elif where < 0.8:
                extra["in_stock"] = item.in_stock if rng.random() < 0.5 else int(item.in_stock)
        if item.codes:
            where = rng.random()
            if where < 0.5:
                out["discounts"] = list(item.codes)
            elif where < 0.7:
                out["discounts"] = ",".join(item.codes)
            else:
                extra["discounts"] = list(item.codes)
        if rng.random() < 0.2:
            extra["rating"] = round(rng.uniform(3.5, 5.0), 1)
        if extra:
            out["item_params"] = ga4_list(extra) if device.ga4_params else extra
        return out
