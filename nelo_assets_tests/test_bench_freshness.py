"""The freshness bench's arithmetic: percentiles with probes that never arrived, and a probe's
path through the runs split into components that add up to its latency."""

from __future__ import annotations

import statistics
from datetime import date

import pytest

from bench.freshness import COMPONENTS, Probe, percentile, summarize, timeline, trace
from bench.freshness.plan import FULL
from bench.freshness.report import freshness_by_round

LATENCIES = [31.0, 12.5, 48.2, 90.1, 25.0, 60.3, 18.7, 33.3, 41.0, 77.7]


@pytest.mark.parametrize("q", [50, 95])
def test_percentile_interpolates_as_statistics_does(q: int) -> None:
    expected = statistics.quantiles(LATENCIES, n=100, method="inclusive")[q - 1]
    assert percentile(LATENCIES, q) == pytest.approx(expected)


def test_a_probe_that_never_arrived_makes_the_tail_unknown_not_the_deadline() -> None:
    values = [*LATENCIES, None]
    assert percentile(values, 50) == sorted(LATENCIES)[5]  # the middle of 11, one of them None
    assert percentile(values, 95) is None
    summary = summarize(values)
    assert summary["max_s"] is None and summary["arrived"] == 10 and summary["probes"] == 11


def test_timeline_clamps_points_that_came_before_their_predecessor() -> None:
    spent = timeline(
        100.0,
        [
            ("sensor_wait", 90.0),  # the ingest run already existed
            ("queue_receive", 104.0),
            ("ingest_announce", None),  # unknown: skipped
            ("automation_wait", 103.0),  # requested before receipt: reached at once
            ("transform_work", 130.0),
        ],
    )
    assert spent["sensor_wait"] == 0 and spent["automation_wait"] == 0
    assert spent["queue_receive"] == 4 and spent["transform_work"] == 26
    assert sum(spent.values()) == 30
    assert set(spent) == set(COMPONENTS)


def test_trace_follows_the_probe_through_its_runs() -> None:
    day = date(2026, 3, 4)
    probe = Probe("live", "bench-probe-x-live-00", day, sent_at=1000.0, message_id="m1")
    probe.last_miss = {"mart_item_list_daily": 1050.0}
    probe.seen_at = {"mart_item_list_daily": 1062.0}
    runs = {
        "ingest": {"run_id": "ingest", "job": "ingest_job", "created": 990.0, "started": 995.0,
                   "ended": 1030.0},
        "silver": {"run_id": "silver", "job": "__ASSET_JOB", "created": 1035.0, "started": 1038.0,
                   "ended": 1045.0},
        "gold": {"run_id": "gold", "job": "__ASSET_JOB", "created": 1047.0, "started": 1050.0,
                 "ended": 1065.0},
    }  # fmt: skip
    key = day.isoformat()
    built = {
        "bronze_events": {key: [(980.0, "older"), (1031.0, "ingest")]},
        "silver_events": {key: [(1020.0, "older"), (1043.0, "silver")]},
        # One run builds the facts and the mart; an older mart build was logged before the miss.
        "fact_event_items": {key: [(1055.0, "gold")]},
        "mart_item_list_daily": {key: [(1040.0, "older"), (1061.0, "gold")]},
    }
    path = trace(probe, "mart_item_list_daily", 1003.0, runs, built)
    assert path is not None and path["complete"]
    assert path["ingest_run"] == "ingest" and path["transform_runs"] == ["silver", "gold"]
    spent = path["components"]
    assert spent["sensor_wait"] == 0 and spent["ingest_launch"] == 0  # already running
    assert spent["queue_receive"] == 3 and spent["ingest_announce"] == 28
    assert spent["automation_wait"] == (1035 - 1031) + (1047 - 1043)
    assert spent["transform_launch"] == 3 + 3
    assert spent["transform_work"] == (1043 - 1038) + (1061 - 1050)
    assert spent["publish_visible"] == 1
    assert sum(spent.values()) == pytest.approx(62.0)  # the measured latency
    assert path["mart_logged_minus_seen_s"] == -1.0


def test_freshness_p95_is_the_median_of_the_rounds_p95() -> None:
    mart = "mart_item_list_daily"
    rows = {
        "live": [
            Probe("live", f"r{n}-{i}", sent_at=0.0, seen_at={mart: latency}, round=n)
            for n in range(FULL.rounds)
            for i, latency in enumerate(LATENCIES[n:] + LATENCIES[:n])
            if i < FULL.live_probes
        ],
        "late": [],
    }
    rounds, p95 = freshness_by_round(FULL, rows)

    expected = [percentile(LATENCIES[n:] + LATENCIES[:n], 95) for n in range(FULL.rounds)]
    assert [r["live_p95_s"] for r in rounds] == [round(v, 1) for v in expected if v is not None]
    assert p95 == round(statistics.median(expected), 1)

    rows["live"][0].seen_at.clear()  # never arrived: that round's p95, and the median, unknown
    assert freshness_by_round(FULL, rows)[1] is None
