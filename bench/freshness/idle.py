"""The idle cost: CPU per minute of `dagster dev`'s process tree, by role, and the baseline's."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

import psutil

from bench.freshness.instance import Instance
from bench.freshness.plan import (
    BASELINE_DEQUEUE_S,
    Plan,
)
from bench.freshness.stack import System, restart
from bench.freshness.stats import rounded
from nelo_assets.service import processes


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


def idle_window(system: System, instance: Instance, seconds: float) -> tuple[dict, int]:
    """CPU per minute of `dagster dev` and the queue server over `seconds`, and the runs created
    meanwhile (0 when the system was settled)."""
    assert system.dagster is not None and system.queue_server is not None
    idle_from = time.time()
    idle = idle_cpu({"dagster": system.dagster.pid, "queue": system.queue_server.pid}, seconds)
    return idle, sum(1 for r in instance.runs() if r["created"] >= idle_from)


def baseline_idle(plan: Plan, system: System, instance: Instance) -> dict[str, Any]:
    """The idle cost with the defaults before issue 16 on the same machine, lake and instance:
    `dagster dev` restarted with them once the history has settled."""
    restart_s = restart(system, baseline=True)
    idle, idle_runs = idle_window(system, instance, plan.idle_s)
    return {
        "sensor_interval_s": system.settings.sensor_interval_seconds,
        "automation_interval_s": system.settings.automation_interval_seconds,
        "alert_interval_s": system.settings.alert_interval_seconds,
        "dequeue_interval_s": BASELINE_DEQUEUE_S,
        "restart_s": rounded(restart_s),
        "idle_runs_created": idle_runs,
        "cpu_s_per_min": idle["dagster"]["total"],
        "cpu_s_per_min_by_process": {k: v for k, v in idle["dagster"].items() if k != "total"},
    }
