"""Where each probe's time went, from the runs and materializations the instance recorded."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench.freshness.plan import (
    CHAIN,
    INGEST_JOB,
    Built,
)
from bench.freshness.probes import Probe
from bench.freshness.stats import rounded, timeline


def _first_at_or_after(events: Sequence[Built], moment: float) -> Built | None:
    return next((e for e in events if e[0] >= moment), None)


def _last_at_or_before(events: Sequence[Built], moment: float) -> Built | None:
    return next((e for e in reversed(events) if e[0] <= moment), None)


def trace(
    probe: Probe,
    mart: str,
    received: float | None,
    runs: Mapping[str, dict[str, Any]],
    built: Mapping[str, Mapping[str | None, Sequence[Built]]],
) -> dict[str, Any] | None:
    """The probe's path to `mart`, as the instance recorded it, split into COMPONENTS.

    The mart build that showed it is the first one logged after the last poll that missed it;
    each layer before is its latest build logged before the next layer's. The ingest run is the
    one running when the probe was received; its announcement is the first bronze_events
    materialization of the day logged after that.
    """
    seen = probe.seen_at.get(mart)
    if seen is None or probe.sent_at is None or probe.event_date is None:
        return None
    day = probe.event_date.isoformat()
    shown = _first_at_or_after(built[mart].get(day, ()), probe.last_miss[mart])
    if shown is None:
        return None
    layers = [shown]
    for asset in reversed(CHAIN):
        before = _last_at_or_before(built[asset].get(day, ()), layers[0][0])
        if before is None:
            return None
        layers.insert(0, before)
    ingest = next(
        (
            run
            for run in sorted(runs.values(), key=lambda r: -(r["started"] or 0))
            if run["job"] == INGEST_JOB
            and received is not None
            and run["started"] is not None
            and run["started"] <= received <= (run["ended"] or float("inf"))
        ),
        None,
    )
    announcement = (
        _first_at_or_after(built["bronze_events"].get(day, ()), received)
        if received is not None
        else None
    )
    announced = announcement[0] if announcement else None
    points: list[tuple[str, float | None]] = [
        ("sensor_wait", ingest and ingest["created"]),
        ("ingest_launch", ingest and ingest["started"]),
        ("queue_receive", received),
        ("ingest_announce", announced),
    ]
    previous_run = None
    transform_runs = []
    for ts, run_id in layers:
        if run_id != previous_run:
            run = runs.get(run_id, {})
            points += [
                ("automation_wait", run.get("created")),
                ("transform_launch", run.get("started")),
            ]
            transform_runs.append(run_id)
            previous_run = run_id
        points.append(("transform_work", ts))
    points.append(("publish_visible", seen))
    return {
        "components": {k: round(v, 2) for k, v in timeline(probe.sent_at, points).items()},
        "ingest_run": ingest["run_id"] if ingest else None,
        "transform_runs": transform_runs,
        "mart_logged_minus_seen_s": round(shown[0] - seen, 2),
        "complete": ingest is not None and announced is not None and received is not None,
    }


def run_stats(runs: Sequence[dict[str, Any]], since: float) -> dict[str, Any]:
    """Launch overhead (created -> started) and duration of the runs created since `since`."""
    stats = {}
    for kind, chosen in (
        ("ingest", [r for r in runs if r["job"] == INGEST_JOB]),
        ("transform", [r for r in runs if r["job"] != INGEST_JOB]),
    ):
        chosen = [r for r in chosen if r["created"] >= since]
        launches = [r["started"] - r["created"] for r in chosen if r["started"]]
        durations = [r["ended"] - r["started"] for r in chosen if r["started"] and r["ended"]]
        stats[kind] = {
            "runs": len(chosen),
            "launch_median_s": rounded(statistics.median(launches)) if launches else None,
            "duration_median_s": rounded(statistics.median(durations)) if durations else None,
            "duration_max_s": rounded(max(durations)) if durations else None,
        }
    return stats
