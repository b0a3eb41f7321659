"""Freshness: how long an event takes from the queue to the marts through the real daemon with
the shipped defaults, where that time goes, and what the idle system costs.

A moto SQS server, a fresh NELO_DATA_DIR and DAGSTER_HOME, `dagster dev -w workspace.yaml` as
`make dev` runs it, steady simulated traffic, and probe events (`view_item_list`, a unique list
name and item id each) timed from their send to their first appearance in `mart_item_list_daily`
and `mart_product_daily`, read through analytics.duckdb as a reader sees it. The breakdown comes
from the Dagster instance afterwards; the idle cost from psutil over `dagster dev`'s tree.
Usage: python -m bench.freshness [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import duckdb
import psutil

from nelo_assets.defs.jobs import ANNOUNCE_EVERY_SECONDS
from nelo_assets.ingestion.drain import DEFAULT_MAX_BUFFER_SECONDS
from nelo_assets.ingestion.sqs import ensure_queue, queue_counts, sqs_client
from nelo_assets.service import processes
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake

REPO = Path(__file__).resolve().parent.parent
MARTS = ("mart_item_list_daily", "mart_product_daily")
# The chain a probe crosses after bronze: silver_events and silver_items are built by one step,
# and both marts read fact_event_items.
CHAIN = ("silver_events", "fact_event_items")
INGEST_JOB = "ingest_job"
IN_FLIGHT = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
POLL_SECONDS = 0.5
HISTORY_SEED, TRAFFIC_SEED = 3, 11
# Live traffic is one simulated day sent at a steady rate; this many events a day is far more
# than a run sends, so the stream never ends early.
TRAFFIC_EVENTS_PER_DAY = 500_000
PARTITION_DAYS = 10  # NELO_START_DATE is this many days before today
# The settings the system under test runs with: `_environment` drops every NELO_ variable.
SHIPPED = Settings.from_env({})
# The idle cost's baseline, measured in the same run: the defaults before issue 16 (every sensor
# every 30 s, the run queue read at Dagster's default of every 5 s). The alert sensors now tick
# at three times the automation interval, 90 s here instead of the old 30 s: that makes the
# baseline a little cheaper than the old defaults, so the ratio errs against the shipped ones.
BASELINE_SENSOR_INTERVAL_S = 30
BASELINE_ENV = {
    "NELO_SENSOR_INTERVAL_SECONDS": str(BASELINE_SENSOR_INTERVAL_S),
    "NELO_AUTOMATION_INTERVAL_SECONDS": str(BASELINE_SENSOR_INTERVAL_S),
}
BASELINE_DEQUEUE_S = 5
SHIPPED_DEQUEUE = "dequeue_interval_seconds: 1\n"
# Placeholders for the local server, not secrets.
AWS_PLACEHOLDERS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
Built = tuple[float, str]  # a materialization: (timestamp, run id)
COMPONENTS = (
    "sensor_wait",
    "ingest_launch",
    "queue_receive",
    "ingest_announce",
    "automation_wait",
    "transform_launch",
    "transform_work",
    "publish_visible",
)


@dataclass(frozen=True)
class Plan:
    history_days: int  # days of history sent through the queue before measuring (0: none)
    history_events_per_day: int
    settle_deadline_s: float  # at most this long for the history to reach the marts
    idle_s: float  # CPU window with an empty queue
    traffic_rate: float  # events per second while probes are measured
    warmup_s: float  # traffic before the first probe
    live_probes: int
    late_probes: int
    probe_interval_s: float
    late_after_s: float  # the late row starts this long after the last live send at the latest
    arrival_deadline_s: float  # a row's probes are waited for this long after its last send
    late_days_back: int = 3


FULL = Plan(
    history_days=2,
    history_events_per_day=100,
    settle_deadline_s=150,
    # A whole number of ticks of every interval in both configurations (10, 20, 30 and 60 s),
    # whatever their phase after the restart; the baseline's 90 s alert tick lands in it or not.
    idle_s=60,
    traffic_rate=20,
    warmup_s=5,
    live_probes=20,
    late_probes=8,
    probe_interval_s=3,
    late_after_s=30,
    arrival_deadline_s=150,
)
# A harness check that fits in about 40 s: no history, first builds measured, a short idle.
QUICK = replace(
    FULL,
    history_days=0,
    settle_deadline_s=0,
    idle_s=8,
    warmup_s=0,
    live_probes=3,
    late_probes=1,
    probe_interval_s=3,
    late_after_s=0,
    arrival_deadline_s=12,
)


@dataclass
class Probe:
    row: str  # "live" or "late"
    name: str  # its item_list_name, also its item's item_id
    event_date: date | None = None
    sent_at: float | None = None
    message_id: str | None = None
    # Per mart: when the last poll that did not see it began, and when one first did.
    last_miss: dict[str, float] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)

    def latency(self, mart: str) -> float | None:
        seen = self.seen_at.get(mart)
        return None if seen is None or self.sent_at is None else seen - self.sent_at


# --- Plain numbers: percentiles and a probe's timeline. ----------------------------------------


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
        "p50_s": _round(percentile(values, 50)),
        "p95_s": _round(percentile(values, 95)),
        "max_s": _round(max(arrived)) if arrived and len(arrived) == len(values) else None,
        "min_s": _round(min(arrived)) if arrived else None,
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


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# --- The system under test: moto, the queue, `dagster dev`. ------------------------------------


def _environment(home: Path, data_dir: Path, start: date) -> dict[str, str]:
    """The environment `make dev` would see, minus anything of ours that overrides a default."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NELO_", "DAGSTER_", "AWS_"))
    }
    return (
        env
        | AWS_PLACEHOLDERS
        | {
            "DAGSTER_HOME": str(home),
            "NELO_DATA_DIR": str(data_dir),
            "NELO_START_DATE": start.isoformat(),
        }
    )


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM stops the bench as Ctrl-C does, so the clean-up runs either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _dagster_home(home: Path) -> Iterator[None]:
    """DagsterInstance.get() reads DAGSTER_HOME; ours only while the bench reads the instance."""
    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved


# --- Reading the instance. ---------------------------------------------------------------------


class Instance:
    """The read-only questions the bench asks the Dagster instance of the run under test."""

    def __init__(self) -> None:
        # Imported here: bench.run imports this module, and Dagster loads only when it runs.
        from dagster import DagsterInstance

        self.instance = DagsterInstance.get()

    def runs(self) -> list[dict[str, Any]]:
        return [
            {
                "run_id": record.dagster_run.run_id,
                "job": record.dagster_run.job_name,
                "status": record.dagster_run.status.value,
                "created": record.create_timestamp.timestamp(),
                "started": record.start_time,
                "ended": record.end_time,
            }
            for record in self.instance.get_run_records()
        ]

    def materializations(
        self, asset: str, partitions: Sequence[str] | None = None
    ) -> dict[str | None, list[Built]]:
        """Every materialization of `asset` (of `partitions` if given), per partition, oldest
        first."""
        from dagster import AssetKey, AssetRecordsFilter

        found: dict[str | None, list[Built]] = defaultdict(list)
        records_filter = AssetRecordsFilter(
            asset_key=AssetKey(asset), asset_partitions=list(partitions) if partitions else None
        )
        cursor = None
        while True:
            result = self.instance.fetch_materializations(
                records_filter, limit=1000, cursor=cursor, ascending=True
            )
            for record in result.records:
                found[record.partition_key].append((record.timestamp, record.run_id))
            if not result.has_more:
                return found
            cursor = result.cursor


def _settled(instance: Instance, sqs: Any, queue_url: str, quiet_s: float) -> bool:
    """Queue empty, no run in flight or created for `quiet_s`, and both marts of every day with
    bronze built after its last bronze announcement."""
    if queue_counts(sqs, queue_url) != (0, 0):
        return False
    runs = instance.runs()
    if any(run["status"] in IN_FLIGHT for run in runs):
        return False
    if runs and max(run["created"] for run in runs) > time.time() - quiet_s:
        return False
    bronze = instance.materializations("bronze_events")
    if not bronze:
        return False
    for mart in MARTS:
        built = instance.materializations(mart)
        for partition, announced in bronze.items():
            if not built.get(partition) or built[partition][-1][0] < announced[-1][0]:
                return False
    return True


# --- Probes and the reader's view. -------------------------------------------------------------


def _probe_body(probe: Probe, moment: datetime) -> str:
    """A contract-valid `view_item_list` event (docs/events.md) with the probe's list and item."""
    return json.dumps(
        {
            "event_id": str(uuid4()),
            "event_name": "view_item_list",
            "event_timestamp": moment.astimezone(UTC).isoformat(timespec="milliseconds"),
            "user_id": "bench-freshness",
            "platform": "IOS",
            "app_version": "bench",
            "event_params": {
                "item_list_id": probe.name,
                "item_list_name": probe.name,
                "currency": "MXN",
            },
            "items": [
                {
                    "item_id": probe.name,
                    "item_name": "freshness probe",
                    "price": 1.0,
                    "index": 0,
                    "item_list_name": probe.name,
                }
            ],
        }
    )


def _send(system: System, probe: Probe, days_back: int) -> None:
    moment = datetime.now(UTC) - timedelta(days=days_back)
    body = _probe_body(probe, moment)
    probe.event_date = moment.astimezone(system.settings.tz).date()
    probe.sent_at = time.time()
    sent = system.sqs.send_message(QueueUrl=system.queue_url, MessageBody=body)
    probe.message_id = sent["MessageId"]
    for mart in MARTS:
        probe.last_miss[mart] = probe.sent_at


def _visible(duckdb_path: Path, prefix: str) -> dict[str, set[str]]:
    """The probe names each mart shows a reader now: a fresh read-only connection per poll."""
    pattern = f"{prefix}%"
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return {
            "mart_item_list_daily": {
                row[0]
                for row in con.execute(
                    "select item_list_name from mart_item_list_daily where item_list_name like ?",
                    [pattern],
                ).fetchall()
            },
            "mart_product_daily": {
                row[0]
                for row in con.execute(
                    "select item_id from mart_product_daily where item_id like ?", [pattern]
                ).fetchall()
            },
        }


def _measure_probes(
    plan: Plan, system: System, duckdb_path: Path, prefix: str, deadline: float
) -> list[Probe]:
    """Send the live row, then the late row, polling the marts every POLL_SECONDS until every
    probe is in both marts or its row's arrival deadline passes (or, once all are sent, `deadline`)."""
    live = [Probe("live", f"{prefix}live-{n:02d}") for n in range(plan.live_probes)]
    late = [Probe("late", f"{prefix}late-{n:02d}") for n in range(plan.late_probes)]
    probes = live + late
    first_send = time.time()
    late_start: float | None = None

    def arrived(row: Sequence[Probe]) -> bool:
        return all(len(p.seen_at) == len(MARTS) for p in row)

    while True:
        now = time.time()
        for n, probe in enumerate(live):
            if probe.sent_at is None and now >= first_send + n * plan.probe_interval_s:
                _send(system, probe, 0)
        last_live = live[-1].sent_at if live else first_send
        if (
            late
            and late_start is None
            and last_live is not None
            and (arrived(live) or now >= last_live + plan.late_after_s)
        ):
            late_start = now
        if late_start is not None:
            for n, probe in enumerate(late):
                if probe.sent_at is None and now >= late_start + n * plan.probe_interval_s:
                    _send(system, probe, plan.late_days_back)
        polled = time.time()
        try:
            visible = _visible(duckdb_path, prefix)
        except duckdb.Error:
            visible = {}  # the file is being replaced: this poll saw nothing new
        for probe in probes:
            if probe.sent_at is None:
                continue
            for mart in MARTS:
                if mart in probe.seen_at:
                    continue
                if probe.name in visible.get(mart, ()):
                    probe.seen_at[mart] = time.time()
                else:
                    probe.last_miss[mart] = polled
        rows_done = [
            arrived(row) or (row[-1].sent_at or now) + plan.arrival_deadline_s < now
            for row in (live, late)
            if row
        ]
        all_sent = all(p.sent_at is not None for p in probes)
        if all_sent and (all(rows_done) or now > deadline):
            return probes
        time.sleep(max(0.0, polled + POLL_SECONDS - time.time()))


# --- Where each probe's time went. -------------------------------------------------------------


def _received_at(duckdb_path: Path, probes: Sequence[Probe]) -> dict[str, float]:
    """message id -> when the ingest run received it from SQS (bronze keeps it per event)."""
    ids = [p.message_id for p in probes if p.message_id]
    if not ids:
        return {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        rows = con.execute(
            "select message_id, min(received_at) from bronze_events "
            "where message_id in (select unnest(?)) group by message_id",
            [ids],
        ).fetchall()
    return {message_id: received.timestamp() for message_id, received in rows}


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


def _run_stats(runs: Sequence[dict[str, Any]], since: float) -> dict[str, Any]:
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
            "launch_median_s": _round(statistics.median(launches)) if launches else None,
            "duration_median_s": _round(statistics.median(durations)) if durations else None,
            "duration_max_s": _round(max(durations)) if durations else None,
        }
    return stats


# --- Idle cost. --------------------------------------------------------------------------------


def _role(process: psutil.Process, parent_role: str | None) -> str:
    """What a process of `dagster dev`'s tree is, from its command line; a run worker (a
    multiprocessing child of the code server) passes its role on to its own children."""
    if parent_role == "run_worker":
        return parent_role
    command = " ".join(process.cmdline())
    for role, marks in (
        ("run_worker", ("spawn_main", "execute_run", "execute_step")),
        ("daemon", ("dagster-daemon", "dagster._daemon", "daemon run")),
        ("webserver", ("dagster-webserver", "dagster_webserver")),
        ("code_server", ("api grpc", "code-server", "code_server")),
        ("dagster_dev", ("dagster dev", "-m dagster dev")),
    ):
        if any(mark in command for mark in marks):
            return role
    return process.name()


def idle_cpu(roots: Mapping[str, int], seconds: float) -> dict[str, dict[str, float]]:
    """CPU seconds per minute spent by each process tree in `roots`, per process role.

    The trees are read every second: a process that appears counts from zero, one that ends
    keeps what it had spent at the last reading (at most a second of it is lost).
    """
    spent: dict[int, tuple[str, str, float, float]] = {}  # pid -> (tree, role, first, last)

    def read(first: bool) -> None:
        for tree, pid in roots.items():
            for process in processes.process_tree(pid):
                with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    times = process.cpu_times()
                    cpu = times.user + times.system
                    if process.pid in spent:
                        tree_, role, start, _ = spent[process.pid]
                        spent[process.pid] = (tree_, role, start, cpu)
                    else:
                        parent = spent.get(process.ppid())
                        role = _role(process, parent[1] if parent else None)
                        spent[process.pid] = (tree, role, cpu if first else 0.0, cpu)

    started = time.monotonic()
    read(first=True)
    while time.monotonic() - started < seconds:
        time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - started))))
        read(first=False)
    elapsed_min = (time.monotonic() - started) / 60
    result: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for tree, role, first, last in spent.values():
        result[tree][role] += (last - first) / elapsed_min
    return {
        tree: {"total": round(sum(roles.values()), 2)}
        | {role: round(v, 2) for role, v in sorted(roles.items())}
        for tree, roles in result.items()
    }


# --- The benchmark. ----------------------------------------------------------------------------


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
        "Timing on a shared 2-core machine is noisy; each run is one sample of a system with "
        "30-second-scale ticks, so p95 of 20 probes moves by tens of seconds between runs.",
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


def _instance_yaml(baseline: bool) -> str:
    """The repository's dagster.yaml, or the baseline's: the run queue read every 5 s."""
    text = (REPO / "dagster.yaml").read_text()
    if not baseline:
        return text
    if SHIPPED_DEQUEUE not in text:
        raise RuntimeError(f"dagster.yaml no longer sets {SHIPPED_DEQUEUE.strip()!r}")
    return text.replace(SHIPPED_DEQUEUE, f"dequeue_interval_seconds: {BASELINE_DEQUEUE_S}\n")


@dataclass
class System:
    """The system under test as `_system` started it."""

    env: dict[str, str]
    settings: Settings
    logs: Path
    home: Path
    sqs: Any = None
    queue_url: str = ""
    queue_server: subprocess.Popen | None = None
    dagster: subprocess.Popen | None = None  # `dagster dev`
    children: list[subprocess.Popen] = field(default_factory=list)

    def simulate(self, start: date, days: int, events_per_day: int, *extra: str) -> list[str]:
        """The simulator's command line for `days` from `start`, sent to the queue."""
        return [
            *(sys.executable, "-m", "nelo_assets.simulation.cli", "sqs", "--no-progress"),
            *("--queue-url", self.queue_url, "--start", start.isoformat(), "--days", str(days)),
            *("--events-per-day", str(events_per_day), *extra),
        ]

    def start(self, argv: Sequence[str], log: str) -> subprocess.Popen:
        child = processes.start(argv, env=self.env, log_path=self.logs / log)
        self.children.append(child)
        return child

    def start_dagster(self, *, baseline: bool = False) -> None:
        """`dagster dev` on this system's home and lake, as `make dev` runs it; with `baseline`,
        the defaults before issue 16 instead of the shipped ones."""
        (self.home / "dagster.yaml").write_text(_instance_yaml(baseline))
        for key, value in BASELINE_ENV.items():
            if baseline:
                self.env[key] = value
            else:
                self.env.pop(key, None)
        self.settings = Settings.from_env(self.env)
        (ui_port,) = _free_ports(1)
        workspace = str(REPO / "workspace.yaml")
        self.dagster = self.start(
            [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-p", str(ui_port)],
            "dagster-baseline.log" if baseline else "dagster.log",
        )
        processes.wait_until(
            lambda: processes.http_ok(f"http://127.0.0.1:{ui_port}/server_info"),
            180,
            "dagster dev",
            self.children,
        )

    def stop_dagster(self) -> None:
        if self.dagster is not None:
            processes.stop([self.dagster], deadline=5)
            self.children.remove(self.dagster)
            self.dagster = None


@contextmanager
def _system(work: Path, plan: Plan, today: date) -> Iterator[System]:
    """A fresh lake and Dagster home under `work`, the queue on a moto server, the views
    published, the history (if any) sent, and `dagster dev` up with the shipped defaults; every
    process stopped on exit."""
    shutil.rmtree(work, ignore_errors=True)
    logs, home = work / "logs", work / "dagster_home"
    logs.mkdir(parents=True)
    home.mkdir()
    env = _environment(home, work / "data", today - timedelta(days=PARTITION_DAYS - 1))
    (sqs_port,) = _free_ports(1)
    endpoint = f"http://127.0.0.1:{sqs_port}"
    system = System(env, Settings.from_env(env), logs, home)
    try:
        system.queue_server = system.start(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(sqs_port)],
            "sqs-server.log",
        )
        processes.wait_until(
            lambda: processes.http_ok(f"{endpoint}/moto-api/"), 30, "moto", system.children
        )
        system.sqs = sqs_client(endpoint_url=endpoint, use_ssl=False, **_session())
        system.queue_url = ensure_queue(system.sqs, "nelo-bench-freshness")
        env |= {"AWS_ENDPOINT_URL_SQS": endpoint, "NELO_SQS_QUEUE_URL": system.queue_url}
        with (logs / "setup.log").open("ab") as log:
            commands = [[sys.executable, "-m", "nelo_assets.serving.analytics"]]
            if plan.history_days:
                first = today - timedelta(days=plan.history_days - 1)
                commands.append(
                    system.simulate(
                        first,
                        plan.history_days,
                        plan.history_events_per_day,
                        *("--seed", str(HISTORY_SEED)),
                    )
                )
            for argv in commands:
                subprocess.run(argv, cwd=REPO, env=env, check=True, stdout=log, stderr=log)
        system.start_dagster()
        yield system
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        with suppress(ValueError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        processes.stop(system.children, deadline=5)


def _settle(instance: Instance, system: System, plan: Plan) -> tuple[bool | None, float | None]:
    """Wait for the history to reach the marts; (settled, seconds), or (None, None) without."""
    if not plan.history_days:
        return None, None
    began = time.monotonic()
    # A run may follow a finished one a few ticks later: the dimensions wait for every day's
    # facts, then for the next automation tick.
    quiet = min(3 * system.settings.sensor_interval_seconds + 5, 45)
    while time.monotonic() - began < plan.settle_deadline_s:
        if _settled(instance, system.sqs, system.queue_url, quiet):
            return True, time.monotonic() - began
        time.sleep(1)
    return False, time.monotonic() - began


def _restart(system: System, *, baseline: bool) -> float:
    """Restart `dagster dev` on the settled system, with the shipped defaults or the baseline's,
    and let every sensor's first tick pass; the seconds it took."""
    began = time.monotonic()
    system.stop_dagster()
    system.start_dagster(baseline=baseline)
    ticks = system.settings.sensor_interval_seconds, system.settings.automation_interval_seconds
    time.sleep(max(ticks) + 5)
    return time.monotonic() - began


def _idle(system: System, instance: Instance, seconds: float) -> tuple[dict, int]:
    """CPU per minute of `dagster dev` and the queue server over `seconds`, and the runs created
    meanwhile (0 when the system was settled)."""
    assert system.dagster is not None and system.queue_server is not None
    idle_from = time.time()
    idle = idle_cpu({"dagster": system.dagster.pid, "queue": system.queue_server.pid}, seconds)
    return idle, sum(1 for r in instance.runs() if r["created"] >= idle_from)


def baseline_idle(plan: Plan, system: System, instance: Instance) -> dict[str, Any]:
    """The idle cost with the defaults before issue 16 on the same machine, lake and instance:
    `dagster dev` restarted with them once the history has settled."""
    restart_s = _restart(system, baseline=True)
    idle, idle_runs = _idle(system, instance, plan.idle_s)
    return {
        "sensor_interval_s": system.settings.sensor_interval_seconds,
        "automation_interval_s": system.settings.automation_interval_seconds,
        "alert_interval_s": system.settings.alert_interval_seconds,
        "dequeue_interval_s": BASELINE_DEQUEUE_S,
        "restart_s": _round(restart_s),
        "idle_runs_created": idle_runs,
        "cpu_s_per_min": idle["dagster"]["total"],
        "cpu_s_per_min_by_process": {k: v for k, v in idle["dagster"].items() if k != "total"},
    }


def run(quick: bool, out: Path) -> dict:
    """Measure freshness and idle cost on a fresh system; logs stay under `out`/freshness."""
    plan = QUICK if quick else FULL
    began = time.monotonic()
    today = datetime.now(SHIPPED.tz).date()
    work = out / "freshness"
    baseline = None
    with (
        _stop_on_signals(),
        _dagster_home(work / "dagster_home"),
        _system(work, plan, today) as system,
    ):
        startup_s = time.monotonic() - began
        instance = Instance()
        settled, settle_s = _settle(instance, system, plan)
        # Both idle windows on the settled system, each after a restart and its first ticks.
        # Quick mode checks the harness: its one-minute budget has no room for the baseline.
        if not quick:
            baseline = baseline_idle(plan, system, instance)
            _restart(system, baseline=False)
        idle, idle_runs = _idle(system, instance, plan.idle_s)

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
        probes = _measure_probes(
            plan,
            system,
            Lake.from_settings(system.settings).duckdb_path,
            f"bench-probe-{uuid4().hex[:8]}-",
            deadline,
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
        received = _received_at(Lake.from_settings(system.settings).duckdb_path, probes)
    timings = {
        "startup_s": startup_s,
        "settle_s": settle_s,
        "idle_window_s": plan.idle_s,
        "measure_s": measure_s,
    }
    results = _results(
        plan, quick, probes, runs, built, received, idle, measure_from, timings, settled, idle_runs
    )
    if baseline is not None:
        results["idle_baseline"] = baseline
        results["idle_cost_vs_baseline"] = round(
            results["idle_cpu_s_per_min"] / baseline["cpu_s_per_min"], 2
        )
    results["timings_s"]["total_s"] = _round(time.monotonic() - began)
    return results


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _session() -> dict[str, str]:
    return {
        "region_name": AWS_PLACEHOLDERS["AWS_DEFAULT_REGION"],
        "aws_access_key_id": AWS_PLACEHOLDERS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_PLACEHOLDERS["AWS_SECRET_ACCESS_KEY"],
    }


def _results(
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
                component: _round(statistics.median(t["components"][component] for t in found))
                for component in (COMPONENTS if found else ())
            }
            breakdown[f"{row}_{mart}"] = medians | {"traced": len(found)}
    headline, late = per_mart["live_mart_item_list_daily"], per_mart["late_mart_item_list_daily"]
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
        "freshness_p95_s": headline["p95_s"],
        "freshness_max_s": headline["max_s"],
        "late_p50_s": late["p50_s"],
        "late_p95_s": late["p95_s"],
        "late_max_s": late["max_s"],
        "per_mart": per_mart,
        "breakdown_median_s": breakdown,
        "runs": _run_stats(list(runs.values()), measure_from),
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
        "timings_s": {k: _round(v) for k, v in timings.items()},
        "probe_details": [
            {
                "row": p.row,
                "event_date": p.event_date.isoformat() if p.event_date else None,
                "sent_s": _round(p.sent_at - measure_from) if p.sent_at else None,
                **{f"{mart}_s": _round(p.latency(mart)) for mart in MARTS},
                "breakdown_item_list": traces[p.name, "mart_item_list_daily"],
            }
            for p in probes
        ],
        "notes": _notes(plan, quick, settled),
    }


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
        f"`python -m bench.freshness` (`bench/freshness.py`): a moto SQS server, `dagster dev -w "
        f"workspace.yaml` with the shipped defaults, {plan['history_days']} days of history "
        f"settled first, then {plan['traffic_rate']:.0f} events/s of live traffic and "
        f"{plan['live_probes']} live probes {plan['probe_interval_s']:.0f} s apart, then "
        f"{plan['late_probes']} late probes dated {plan['late_days_back']} days back; the "
        "idle windows come between the history and the traffic. Each probe is "
        "timed from its SendMessage to the first read of analytics.duckdb (a new read-only "
        f"connection every {POLL_SECONDS} s) that shows it.",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a harness check in about 40 s")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="work directory")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.out), indent=2))


if __name__ == "__main__":
    main()
