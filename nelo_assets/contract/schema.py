"""The JSON Schema of a message body (docs/event-schema.json, written by `make schema`)."""

from __future__ import annotations

from typing import Any

from nelo_assets.contract.values import (
    EPOCH_MILLIS_MIN,
    INTEGER,
    ITEM_TEXT_FIELDS,
    MAX_BATCH_EVENTS,
    MAX_BODY_BYTES,
    MAX_ID_LENGTH,
    MAX_ITEMS,
    NUMBER,
    REQUIRED_FIELDS,
)

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
    ga4_number = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER.pattern}]}
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
                            {"type": "string", "pattern": f"^{INTEGER.pattern}$"},
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
