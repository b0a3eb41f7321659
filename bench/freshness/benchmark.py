"""The freshness bench end to end: start the system, settle, measure idle cost and probes."""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path
from uuid import uuid4

from bench.freshness.idle import baseline_idle, idle_window
from bench.freshness.instance import Instance, settle, wait_for_other_days
from bench.freshness.plan import (
    CHAIN,
    FULL,
    MARTS,
    QUICK,
    SHIPPED,
    TRAFFIC_EVENTS_PER_DAY,
    TRAFFIC_SEED,
)
from bench.freshness.probes import measure_probes, received_at
from bench.freshness.report import build_results
from bench.freshness.stack import dagster_home, restart, stop_on_signals, system_under_test
from bench.freshness.stats import rounded
from nelo_assets.service import processes
from nelo_assets.storage.lake import Lake


def run(quick: bool, out: Path) -> dict:
    """Measure freshness and idle cost on a fresh system; logs stay under `out`/freshness."""
    plan = QUICK if quick else FULL
    began = time.monotonic()
    today = datetime.now(SHIPPED.tz).date()
    work = out / "freshness"
    baseline = None
    with (
        stop_on_signals(),
        dagster_home(work / "dagster_home"),
        system_under_test(work, plan, today) as system,
    ):
        startup_s = time.monotonic() - began
        instance = Instance()
        settled, settle_s = settle(instance, system, plan)
        # Both idle windows on the settled system, each after a restart and its first ticks.
        # Quick mode checks the harness: its one-minute budget has no room for the baseline.
        if not quick:
            baseline = baseline_idle(plan, system, instance)
            restart(system, baseline=False)
        idle, idle_runs = idle_window(system, instance, plan.idle_s)

        traffic = system.start(
            system.simulate(
                today,
                1,
                TRAFFIC_EVENTS_PER_DAY,
                *("--rate", str(plan.traffic_rate), "--seed", str(TRAFFIC_SEED)),
            ),
            "traffic.log",
        )
        time.sleep(plan.warmup_s)
        measure_from = time.time()
        # Quick mode keeps to its budget whatever the probes do.
        deadline = time.time() + max(5.0, 36 - (time.monotonic() - began)) if quick else math.inf
        probes = []
        between_rounds_s = 0.0
        for round_ in range(plan.rounds):
            if round_:
                between_rounds_s += wait_for_other_days(
                    instance, today.isoformat(), plan.arrival_deadline_s
                )
            probes += measure_probes(
                plan,
                system,
                Lake.from_settings(system.settings).duckdb_path,
                f"bench-probe-{uuid4().hex[:8]}-r{round_}-",
                deadline,
                round_,
            )
        measure_s = time.time() - measure_from
        processes.stop([traffic], deadline=5)
        system.children.remove(traffic)

        runs = {r["run_id"]: r for r in instance.runs()}
        days = sorted({p.event_date.isoformat() for p in probes if p.event_date})
        built = {
            asset: instance.materializations(asset, days)
            for asset in ("bronze_events", *CHAIN, *MARTS)
        }
        received = received_at(Lake.from_settings(system.settings).duckdb_path, probes)
    timings = {
        "startup_s": startup_s,
        "settle_s": settle_s,
        "idle_window_s": plan.idle_s,
        "measure_s": measure_s,
        "between_rounds_s": between_rounds_s,
    }
    results = build_results(
        plan, quick, probes, runs, built, received, idle, measure_from, timings, settled, idle_runs
    )
    if baseline is not None:
        results["idle_baseline"] = baseline
        results["idle_cost_vs_baseline"] = round(
            results["idle_cpu_s_per_min"] / baseline["cpu_s_per_min"], 2
        )
    results["timings_s"]["total_s"] = rounded(time.monotonic() - began)
    return results
