"""results.json and bench/report.md's section from the measurements, with the notes on how
each is read."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from bench.freshness.breakdown import run_stats, trace
from bench.freshness.plan import (
    BASELINE_SENSOR_INTERVAL_S,
    COMPONENTS,
    MARTS,
    POLL_SECONDS,
    SHIPPED,
    Built,
    Plan,
)
from bench.freshness.probes import Probe
from bench.freshness.stats import rounded, summarize
from nelo_assets.defs.jobs import ANNOUNCE_EVERY_SECONDS
from nelo_assets.ingestion.drain import DEFAULT_MAX_BUFFER_SECONDS


def _notes(plan: Plan, quick: bool, settled: bool | None) -> list[str]:
    notes = [
        "Latency: from just before the probe's SendMessage to the first poll (a fresh read-only "
        f"connection to analytics.duckdb every {POLL_SECONDS} s) that shows its list in "
        "mart_item_list_daily, or its item in mart_product_daily: up to one poll late.",
        "A probe that never arrived counts as unknown, not as the deadline: a percentile or max "
        "that depends on one is null (see *_arrived).",
        "Breakdown, per probe, along its path as the instance recorded it (approximate): the "
        "mart build that showed it is the first logged after the last poll that missed it; "
        "each layer before it (fact_event_items, silver_events) is that day's latest build "
        "logged before the next layer's, which may be later than the one whose input held the "
        "probe. queue_receive ends at received_at in bronze (exact, per message); the ingest "
        "run is the one running then; ingest_announce ends at the first bronze_events "
        "materialization of the day logged after receipt (with announcements during a run, "
        "possibly one of an earlier flush of the same run).",
        "A component whose end came before its start (the ingest run was already running when "
        "the probe was sent; a transform run read the bronze file before it was announced) "
        "counts as 0 s, so components add up to the measured latency within the reader's "
        "last step (publish_visible; mart_logged_minus_seen_s is how long after the reader "
        "saw it Dagster logged the build).",
        "automation_wait sums every gap from an input being ready to the creation of the next "
        "run of the chain (one per layer with one run per layer); transform_launch sums "
        "created -> started of those runs (queueing and process start-up); transform_work "
        "sums started -> the layer's materialization.",
        "Idle CPU: user + system CPU of every process of `dagster dev`'s tree (daemon, code "
        "server, webserver, run workers if any), read each second with psutil; the queue "
        "server (moto) is reported apart and not in the total. It is the idle cost only when "
        "settled_before_measuring is true and idle_runs_created is 0; otherwise run workers "
        "(listed as run_worker) are in it. In the full run each window (the baseline's first, "
        "then the shipped defaults') follows a restart of `dagster dev` on the settled "
        "system and a wait of its SQS or automation interval, the longer, plus 5 s: every "
        "sensor ticks once right at start-up, and that tick is behind it. The window holds a "
        "whole number of ticks of each sensor, except the baseline's alert sensors (every 90 s: "
        "a tick or none, which errs against the shipped defaults).",
        f"Late probes are dated {plan.late_days_back} days back; the late row starts when every "
        f"live probe arrived or {plan.late_after_s:.0f} s after the last live send, so the "
        "last live probes may share the machine with the late row's rebuilds.",
        "Timing on a shared 2-core machine is noisy: one round's p95 moved by about 10 s between "
        f"runs, so freshness_p95_s is the median of {plan.rounds} rounds' p95 (rounds holds each; "
        "per_mart pools them).",
    ]
    if quick:
        notes.append(
            "Quick mode checks the harness, not the numbers: no history and no settling (first "
            "builds are measured), an idle window right after start-up, "
            f"{plan.live_probes} live and {plan.late_probes} late probe(s) {plan.probe_interval_s:.0f} s "
            f"apart, each row waited for {plan.arrival_deadline_s:.0f} s at most."
        )
    if settled is False:
        notes.append(
            "The history had not settled by the deadline: the first probes share the "
            "machine with its first builds."
        )
    return notes


def build_results(
    plan: Plan,
    quick: bool,
    probes: Sequence[Probe],
    runs: Mapping[str, dict[str, Any]],
    built: Mapping[str, Mapping[str | None, Sequence[Built]]],
    received: Mapping[str, float],
    idle: Mapping[str, Mapping[str, float]],
    measure_from: float,
    timings: Mapping[str, float | None],
    settled: bool | None,
    idle_runs: int,
) -> dict:
    rows = {
        row: [p for p in probes if p.row == row and p.sent_at is not None]
        for row in ("live", "late")
    }
    per_mart = {
        f"{row}_{mart}": summarize([p.latency(mart) for p in rows[row]])
        for row in rows
        for mart in MARTS
    }
    traces = {
        (p.name, mart): trace(p, mart, received.get(p.message_id or ""), runs, built)
        for p in probes
        for mart in MARTS
    }
    breakdown = {}
    for row in rows:
        for mart in MARTS:
            found = [traces[p.name, mart] for p in rows[row] if traces[p.name, mart]]
            medians = {
                component: rounded(statistics.median(t["components"][component] for t in found))
                for component in (COMPONENTS if found else ())
            }
            breakdown[f"{row}_{mart}"] = medians | {"traced": len(found)}
    headline, late = per_mart["live_mart_item_list_daily"], per_mart["late_mart_item_list_daily"]
    rounds, p95 = freshness_by_round(plan, rows)
    dagster_idle = idle.get("dagster", {"total": 0.0})
    return {
        "mode": "quick" if quick else "full",
        # The shipped defaults the system under test ran with.
        "intervals_s": {
            "sqs_sensor_s": SHIPPED.sensor_interval_seconds,
            "automation_s": SHIPPED.automation_interval_seconds,
            "announce_s": ANNOUNCE_EVERY_SECONDS,
            "batch_max_buffer_s": DEFAULT_MAX_BUFFER_SECONDS,
        },
        "plan": asdict(plan),
        "freshness_p50_s": headline["p50_s"],
        # The median of the rounds' p95 (the issue's measure); per_mart pools every round.
        "freshness_p95_s": p95,
        "freshness_p95_s_pooled": headline["p95_s"],
        "freshness_max_s": headline["max_s"],
        "rounds": rounds,
        "late_p50_s": late["p50_s"],
        "late_p95_s": late["p95_s"],
        "late_max_s": late["max_s"],
        "per_mart": per_mart,
        "breakdown_median_s": breakdown,
        "runs": run_stats(list(runs.values()), measure_from),
        "idle_cpu_s_per_min": dagster_idle["total"],
        "idle_cpu_s_per_min_by_process": {k: v for k, v in dagster_idle.items() if k != "total"},
        "idle_cpu_queue_server_s_per_min": idle.get("queue", {}).get("total"),
        "idle_runs_created": idle_runs,
        "probes": {
            "live_sent": len(rows["live"]),
            "live_arrived": headline["arrived"],
            "late_sent": len(rows["late"]),
            "late_arrived": late["arrived"],
        },
        "settled_before_measuring": settled,
        "timings_s": {k: rounded(v) for k, v in timings.items()},
        "probe_details": [
            {
                "row": p.row,
                "event_date": p.event_date.isoformat() if p.event_date else None,
                "sent_s": rounded(p.sent_at - measure_from) if p.sent_at else None,
                **{f"{mart}_s": rounded(p.latency(mart)) for mart in MARTS},
                "breakdown_item_list": traces[p.name, "mart_item_list_daily"],
            }
            for p in probes
        ],
        "notes": _notes(plan, quick, settled),
    }


def freshness_by_round(
    plan: Plan, rows: Mapping[str, Sequence[Probe]]
) -> tuple[list[dict[str, Any]], float | None]:
    """Each round's p50 and p95 of both rows (`mart_item_list_daily`), and the median of the
    rounds' live p95: unknown when a round's p95 depends on a probe that never arrived."""
    mart = "mart_item_list_daily"
    rounds = []
    for n in range(plan.rounds):
        by_row = {
            row: summarize([p.latency(mart) for p in probes if p.round == n])
            for row, probes in rows.items()
        }
        rounds.append(
            {
                f"{row}_{stat}_s": by_row[row][f"{stat}_s"]
                for row in by_row
                for stat in ("p50", "p95")
            }
        )
    p95s = [r["live_p95_s"] for r in rounds]
    if not p95s or any(v is None for v in p95s):
        return rounds, None
    return rounds, rounded(statistics.median(v for v in p95s if v is not None))


def _baseline_lines(results: dict) -> list[str]:
    baseline = results.get("idle_baseline")
    if not baseline:
        return []
    return [
        f"Beside it, measured the same way just before on the same settled lake and instance, "
        f"`dagster dev` with the defaults before issue 16 (the SQS sensor every "
        f"{baseline['sensor_interval_s']} s, automation every "
        f"{baseline['automation_interval_s']} s, the alerts every "
        f"{baseline['alert_interval_s']} s instead of the old "
        f"{BASELINE_SENSOR_INTERVAL_S} s, the run queue read every "
        f"{baseline['dequeue_interval_s']} s): {baseline['cpu_s_per_min']} CPU s per minute "
        f"(runs created in the window: {baseline['idle_runs_created']}). Shipped over that "
        f"baseline: "
        f"**{results['idle_cost_vs_baseline']}** (goal: at most 1.5).",
        "",
    ]


def report_lines(results: dict) -> list[str]:
    """bench/report.md's section: latency by row and mart, where it went, the idle cost, and
    what bounds each."""
    per_mart, breakdown = results["per_mart"], results["breakdown_median_s"]
    live = breakdown["live_mart_item_list_daily"]
    idle = results["idle_cpu_s_per_min_by_process"]
    plan, ticks, transform = results["plan"], results["intervals_s"], results["runs"]["transform"]
    worst = (
        ticks["batch_max_buffer_s"]
        + ticks["announce_s"]
        + ticks["automation_s"]
        + 1
        + (transform["launch_median_s"] or 0)
        + (transform["duration_median_s"] or 0)
    )
    return [
        "## Freshness: from the queue to the marts",
        "",
        f"`python -m bench.freshness` (`bench/freshness/`): a moto SQS server, `dagster dev -w "
        f"workspace.yaml` with the shipped defaults, {plan['history_days']} days of history "
        f"settled first, then {plan['traffic_rate']:.0f} events/s of live traffic and "
        f"{plan['rounds']} rounds of {plan['live_probes']} live probes "
        f"{plan['probe_interval_s']:.0f} s apart, then, after the last, {plan['late_probes']} late "
        f"probes dated {plan['late_days_back']} days back; the idle windows come between the history and "
        "the traffic. Each probe is timed from its SendMessage to the first read of "
        f"analytics.duckdb (a new read-only connection every {POLL_SECONDS} s) that shows it.",
        "",
        f"**freshness_p95_s: {results['freshness_p95_s']} s**, the median of the rounds' live "
        "p95 (`mart_item_list_daily`): "
        + ", ".join(f"{r['live_p95_s']}" for r in results["rounds"])
        + " s. The table pools every round.",
        "",
        "| probes | mart | p50 s | p95 s | max s | arrived |",
        "|---|---|---|---|---|---|",
        *[
            f"| {row} | {mart} | {m['p50_s']} | {m['p95_s']} | {m['max_s']} "
            f"| {m['arrived']} of {m['probes']} |"
            for key, m in per_mart.items()
            for row, mart in [key.split("_", 1)]
        ],
        "",
        "Where a live probe's time went (medians over the probes, `mart_item_list_daily`; the "
        "notes in results.json say how each is read from the instance):",
        "",
        "| " + " | ".join(COMPONENTS) + " |",
        "|" + "---|" * len(COMPONENTS),
        "| " + " | ".join(str(live.get(c)) for c in COMPONENTS) + " |",
        "",
        "Runs created while measuring: "
        + "; ".join(
            f"{kind} {r['runs']} (created to started, median {r['launch_median_s']} s; "
            f"duration median {r['duration_median_s']} s, max {r['duration_max_s']} s)"
            for kind, r in results["runs"].items()
        )
        + ".",
        "",
        f"Idle cost over {plan['idle_s']:.0f} s, the queue empty and the history settled "
        f"({results['settled_before_measuring']}), after a restart of `dagster dev` and every "
        f"sensor's first tick (the notes in results.json say why; runs created in the window: "
        f"{results['idle_runs_created']}): **{results['idle_cpu_s_per_min']} CPU s per "
        f"minute** for `dagster dev`'s tree ({', '.join(f'{k} {v}' for k, v in idle.items())}); "
        f"the queue server apart: {results['idle_cpu_queue_server_s_per_min']}.",
        "",
        *_baseline_lines(results),
        "### What bounds freshness",
        "",
        "- A probe waits for the ingest run's batch to land (a batch lands when full or "
        f"{ticks['batch_max_buffer_s']:.0f} s after its first message), then for the next "
        f"announcement (every {ticks['announce_s']:.0f} s), then for the automation sensor's "
        f"next tick (every {ticks['automation_s']} s) and its evaluation, then for the run to "
        "start (the queue is read every second; a new process imports the code location: "
        f"{transform['launch_median_s']} s median), then for the build of silver to the marts "
        f"({transform['duration_median_s']} s median). Each wait at its longest, with the "
        f"median launch and build, adds up to {worst:.0f} s: what a probe that meets every "
        "wait at its longest takes.",
        "- A shorter automation interval would cut the tick wait and raise the idle cost: "
        "every tick of a sensor with resources builds a new DagsterInstance in the code "
        "server, which on SQLite checks the Alembic revision of each storage (about 30% of the "
        "code server's idle CPU in a 60 s py-spy profile of this harness). PostgreSQL storage "
        "(`make prod`) does not make that check.",
        "- Late probes rebuild their day and the seven after it (sessions and attribution look "
        "back): one run per day, each waiting for the run of the day its lookback reads.",
        "",
    ]
