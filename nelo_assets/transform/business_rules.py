"""The rules of docs/tables.md that code and SQL share, each defined once and bound into SQL as a parameter."""

from __future__ import annotations

# Sessions: a new session starts after a gap of more than this many seconds.
SESSION_GAP_SECONDS = 1800
# Attribution: a conversion takes the list of the same user's latest click on the item at most
# this many hours before.
ATTRIBUTION_WINDOW_HOURS = 168

# Days of input each partition reads before its own: a session can start the day before, and an
# attribution click up to the window's length before (168 h is 7 days; no DST in Mexico City).
SESSION_LOOKBACK_DAYS = 1
ATTRIBUTION_LOOKBACK_DAYS = -(-ATTRIBUTION_WINDOW_HOURS // 24)
