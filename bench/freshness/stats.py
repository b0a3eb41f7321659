"""Plain numbers: percentiles and a probe's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.freshness.plan import (
    COMPONENTS,
)


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None (never arrived) sorts last, and a
    percentile that depends on such a value is None: it is unknown, not the deadline."""
    if not values:
        return None
    ordered = sorted(values, key=lambda v: (v is None, v or 0.0))
    position = (len(ordered) - 1) * q / 100
    low, high = int(position), min(int(position) + 1, len(ordered) - 1)
    if ordered[low] is None or (ordered[high] is None and position > low):
        return None
    if low == high or position == low:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(values: Sequence[float | None]) -> dict[str, Any]:
    arrived = [v for v in values if v is not None]
    return {
        "p50_s": rounded(percentile(values, 50)),
        "p95_s": rounded(percentile(values, 95)),
        "max_s": rounded(max(arrived)) if arrived and len(arrived) == len(values) else None,
        "min_s": rounded(min(arrived)) if arrived else None,
        "probes": len(values),
        "arrived": len(arrived),
    }


def timeline(start: float, points: Sequence[tuple[str, float | None]]) -> dict[str, float]:
    """Seconds per component along `points` (component, the moment it ends), from `start`.

    A point earlier than the one before it (a run that already existed, a build that read the
    bronze file before it was announced) counts as reached at once: every component is >= 0
    and they add up to the last point minus `start`. Missing points (None) are skipped.
    """
    spent = dict.fromkeys(COMPONENTS, 0.0)
    cursor = start
    for component, moment in points:
        if moment is None:
            continue
        reached = max(moment, cursor)
        spent[component] = spent.get(component, 0.0) + reached - cursor
        cursor = reached
    return spent


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
