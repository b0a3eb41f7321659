"""The system under test: a moto SQS server, the queue, a fresh lake and Dagster home, and
`dagster dev` started with the shipped defaults or the baseline's; stopped as a whole."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.freshness.plan import (
    AWS_PLACEHOLDERS,
    BASELINE_DEQUEUE_S,
    BASELINE_ENV,
    HISTORY_SEED,
    PARTITION_DAYS,
    REPO,
    SHIPPED_DEQUEUE,
    Plan,
)
from nelo_assets.ingestion.sqs import ensure_queue, sqs_client
from nelo_assets.service import processes
from nelo_assets.settings import Settings


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
def stop_on_signals() -> Iterator[None]:
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
def dagster_home(home: Path) -> Iterator[None]:
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
    """The system under test as `system_under_test` started it."""

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
def system_under_test(work: Path, plan: Plan, today: date) -> Iterator[System]:
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


def restart(system: System, *, baseline: bool) -> float:
    """Restart `dagster dev` on the settled system, with the shipped defaults or the baseline's,
    and let every sensor's first tick pass; the seconds it took."""
    began = time.monotonic()
    system.stop_dagster()
    system.start_dagster(baseline=baseline)
    ticks = system.settings.sensor_interval_seconds, system.settings.automation_interval_seconds
    time.sleep(max(ticks) + 5)
    return time.monotonic() - began


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
