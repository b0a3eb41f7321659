"""The run launcher of `make dev`/`make demo`: Dagster's DefaultRunLauncher plus a run worker
health check, so Dagster's own run monitoring daemon fails a run whose worker is gone.

DefaultRunLauncher (a run worker is a subprocess of the code server) has no health check, so
with it run monitoring only times out STARTING and CANCELING runs: a STARTED run whose worker
was SIGKILLed, or whose host rebooted, stays STARTED forever and holds its pool slot. Every run
worker logs "Started process for run (pid: N)" as its first event; the check looks that process
up. A pid that no longer exists, or that now belongs to a process started after that event (the
pid was reused, e.g. after a reboot), means the worker is dead. Local processes only: this
launcher is for runs on the host of the daemon (the dev and demo profile).
"""

from __future__ import annotations

import psutil
from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# Process start times come from /proc in clock ticks: allow for their rounding.
CLOCK_SLACK_SECONDS = 1.0
DEAD_WORKER = "the run worker process is gone"


def worker_status(pid: int | None, logged_at: float, exited: bool) -> CheckRunHealthResult:
    """The health of the worker that logged `pid` at `logged_at` (a Unix timestamp)."""
    if pid is None:
        # Not launched as a run worker subprocess (e.g. executed in process): nothing to watch.
        return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker pid recorded")
    if exited:
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"{DEAD_WORKER}: pid {pid} exited without finishing the run"
        )
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return CheckRunHealthResult(
            WorkerStatus.NOT_FOUND,
            f"{DEAD_WORKER}: pid {pid} no longer exists (killed, or the host restarted)",
        )
    if started > logged_at + CLOCK_SLACK_SECONDS:
        return CheckRunHealthResult(
            WorkerStatus.NOT_FOUND,
            f"{DEAD_WORKER}: pid {pid} now belongs to a newer process (the host restarted)",
        )
    return CheckRunHealthResult(WorkerStatus.RUNNING, f"pid {pid} alive")


class LocalProcessRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher whose runs the monitoring daemon can see die (see the module doc)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ENGINE_EVENT
        ).records
        pid: int | None = None
        logged_at = 0.0
        exited = False
        for record in records:  # a handful per run; the last worker launched is the one to watch
            entry = record.event_log_entry
            data = entry.dagster_event.event_specific_data if entry.dagster_event else None
            metadata = getattr(data, "metadata", None) or {}
            message = entry.message or ""
            if message.startswith("Started process for run") and "pid" in metadata:
                pid, logged_at, exited = int(metadata["pid"].value), entry.timestamp, False
            elif message.startswith("Process for run exited") and pid is not None:
                exited = True
        return worker_status(pid, logged_at, exited)
