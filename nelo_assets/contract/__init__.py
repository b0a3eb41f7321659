"""The event contract of docs/events.md in code: the only place that decides valid, routable or quarantined.

`route_message` is what ingestion needs (the time of each event), `parse_message` / `parse_event`
what silver needs (the whole event). None of them raises on any message content: every failure,
expected or not, becomes a `QuarantineRecord`.

Pydantic does the judging: `Item` and `EventIn` are validated straight from the JSON objects,
each field's annotated type carries its rules, and of all the rules an event breaks, the first
in docs/events.md's order gives its reason (`first_broken`).

The modules, from the bottom up: `reasons` (reason codes, rule order, the errors), `values`
(limits, single JSON values), `timestamps` (the device time), `models` (the pydantic models and
their field rules), `bodies` (a body to its events), `routing` (the entry points) and `schema`
(the JSON Schema behind `make schema`).
"""

from nelo_assets.contract.models import Event
from nelo_assets.contract.reasons import REASON_CODES
from nelo_assets.contract.routing import (
    QuarantineRecord,
    parse_event,
    parse_message,
    route_message,
)
from nelo_assets.contract.schema import event_json_schema
from nelo_assets.contract.timestamps import event_date_of, parse_event_timestamp
from nelo_assets.contract.values import (
    DEFAULT_CURRENCY,
    MAX_BATCH_EVENTS,
    Platform,
    derive_event_id,
)

__all__ = [
    "DEFAULT_CURRENCY",
    "MAX_BATCH_EVENTS",
    "REASON_CODES",
    "Event",
    "Platform",
    "QuarantineRecord",
    "derive_event_id",
    "event_date_of",
    "event_json_schema",
    "parse_event",
    "parse_event_timestamp",
    "parse_message",
    "route_message",
]
