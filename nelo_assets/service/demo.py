"""`make demo`: the whole system live on one machine, no AWS account.

Starts a local SQS-compatible server (moto) with the queue and its dead-letter queue, loads the
last 28 days of simulated history into the landing archive (first start only), starts live app
traffic into the queue and Dagster (`dg dev`) with the sensors and automation on, then backfills
the history through the Dagster daemon so the marts fill up with no click. Ctrl-C stops the
traffic, lets ingestion drain the queue for up to DRAIN_SECONDS, then stops everything, a local
SQS server taken over from a killed demo included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil

from nelo_assets.ingestion.bronze import recover_unrouted
from nelo_assets.ingestion.landing import iter_landing_files, landing_day_dirs
from nelo_assets.service import processes
from nelo_assets.service.traffic import start_live_traffic
from nelo_assets.serving.analytics import publish_views
from nelo_assets.settings import DEMO_QUEUE_NAME, DEMO_SQS_PORT, Settings
from nelo_assets.storage.lake import Lake

STARTUP_DEADLINE_SECONDS = 180
# On Ctrl-C, how long ingestion may take to empty the queue before the local server stops.
DRAIN_SECONDS = 30


class DemoError(RuntimeError):
    """The demo could not start; the message says why in one line."""


@dataclass(frozen=True)
class DemoOptions:
    """The demo's sizes and ports, read from the environment when the demo starts."""

    # 28 days: the dashboard's default 14-day view has a previous period to compare with.
    # Sizes can be lowered for tests through the environment.
    history_days: int = 28
    history_events_per_day: int = 4000
    ui_port: int = 3000
    dashboard_port: int = 8501
    # Loopback only unless told otherwise: expose it through a reverse proxy with SSO (README).
    dashboard_address: str = "127.0.0.1"
    sqs_port: int = DEMO_SQS_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DemoOptions:
        def number(name: str, default: int) -> int:
            raw = env.get(name) or str(default)
            if not raw.isdigit():
                raise DemoError(f"{name}={raw!r} is not a whole number")
            return int(raw)

        return cls(
            history_days=number("NELO_DEMO_HISTORY_DAYS", cls.history_days),
            history_events_per_day=number("NELO_DEMO_EVENTS_PER_DAY", cls.history_events_per_day),
            ui_port=number("NELO_UI_PORT", cls.ui_port),
            dashboard_port=number("NELO_DASHBOARD_PORT", cls.dashboard_port),
            dashboard_address=env.get("NELO_DASHBOARD_ADDRESS") or cls.dashboard_address,
            sqs_port=number("NELO_DEMO_SQS_PORT", cls.sqs_port),
        )


def _demo_environment(settings: Settings, options: DemoOptions) -> dict[str, str]:
    env = dict(os.environ)
    # The local server accepts any credentials; these are placeholders, not secrets (R8).
    env.setdefault("AWS_ACCESS_KEY_ID", "demo")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["AWS_ENDPOINT_URL_SQS"] = f"http://127.0.0.1:{options.sqs_port}"
    env["NELO_DATA_DIR"] = str(settings.data_dir)
    env.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve()))
    return env


def _create_queue(env: dict[str, str]) -> str:
    from nelo_assets.ingestion.sqs import ensure_queue, sqs_client

    os.environ.update(env)
    client = sqs_client()
    return ensure_queue(client, DEMO_QUEUE_NAME, dead_letter_name=f"{DEMO_QUEUE_NAME}-dlq")


def _history_dates(today: date, history_days: int) -> list[date]:
    return [today - timedelta(days=n) for n in range(history_days, -1, -1)]  # through today


def _write_history(settings: Settings, lake: Lake, options: DemoOptions) -> bool:
    """Simulated history into the landing archive, once; False when it is already there."""
    if any(iter_landing_files(lake.landing_dir)):
        return False
    from nelo_assets.simulation.cli import SimulationConfig, write_archive

    start = _history_dates(datetime.now(settings.tz).date(), options.history_days)[0]
    config = SimulationConfig(
        start=start,
        days=options.history_days + 1,  # through today, up to now: the live stream carries on
        events_per_day=options.history_events_per_day,
        timezone=settings.timezone,
        end=datetime.now(UTC),  # late uploads that would arrive after now are not there yet
    )
    summary = write_archive(config, lake.landing_dir)
    # Routed now, so the first ingest run has nothing to recover and bronze is ready to compact.
    recover_unrouted(lake, settings)
    print(f"history: {summary}")
    return True


def _first_history_day(lake: Lake, fallback: date) -> date:
    """The first day of the landing archive, where the history starts (bronze holds only its
    last days until the backfill): the demo's partitions start there, not on a fixed date that
    would show months of missing partitions before its history."""
    first = next(landing_day_dirs(lake.landing_dir), None)
    if first is None:
        return fallback
    return date(int(first.parent.parent.name), int(first.parent.name), int(first.name))


def _launch_history_backfill(dates: list[date], ui_port: int) -> str:
    """Ask the running Dagster to backfill bronze (from landing) and everything downstream, for
    these days only: named by asset, not as partitions of the roots, which Dagster would extend
    through the lookbacks to tomorrow's facts and marts (built empty)."""
    # Imported here, not at the top: the launcher itself runs without Dagster loaded.
    from nelo_assets.defs.jobs import DAILY_PIPELINE_ASSETS

    query = """
    mutation($params: LaunchBackfillParams!) {
      launchPartitionBackfill(backfillParams: $params) {
        __typename
        ... on LaunchBackfillSuccess { backfillId }
        ... on PythonError { message }
        ... on InvalidSubsetError { message }
      }
    }"""
    days = {"range": {"start": dates[0].isoformat(), "end": dates[-1].isoformat()}}
    params = {
        "partitionsByAssets": [
            {"assetKey": {"path": [name]}, "partitions": days} for name in DAILY_PIPELINE_ASSETS
        ],
        "fromFailure": False,
        "title": "demo history",
    }
    body = json.dumps({"query": query, "variables": {"params": params}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{ui_port}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result = json.load(response)["data"]["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise DemoError(f"history backfill was refused: {result.get('message')}")
    return result["backfillId"]


def _sqs_server(
    options: DemoOptions, env: dict[str, str], log_dir: Path
) -> subprocess.Popen | psutil.Process:
    """The local SQS server, started now or left running by a demo that was killed."""
    sqs_api = f"http://127.0.0.1:{options.sqs_port}/moto-api/"
    if processes.http_ok(sqs_api):
        # Left by a demo that was killed (kill -9 reaches no clean-up): it holds the queue, with
        # the messages nobody has ingested yet, so this demo takes it over and stops it on exit.
        server = processes.listening_on(options.sqs_port, "moto.server")
        if server is None:
            raise DemoError(
                f"port {options.sqs_port} answers, but not as a local SQS server this demo can "
                "stop: free it or set NELO_DEMO_SQS_PORT"
            )
        print(f"taking over the local SQS server already on port {options.sqs_port}")
        return server
    server = processes.start(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(options.sqs_port)],
        env=env,
        log_path=log_dir / "sqs-server.log",
    )
    processes.wait_until(lambda: processes.http_ok(sqs_api), 30, "the local SQS server", [server])
    return server


def _drain(env: dict[str, str], queue_url: str) -> int:
    """Wait, at most DRAIN_SECONDS, for ingestion to empty the queue; the messages still there."""
    from nelo_assets.ingestion.sqs import QueueError, queue_counts, sqs_client

    os.environ.update(env)
    client = sqs_client()
    try:
        left = sum(queue_counts(client, queue_url))
        if left:
            print(f"waiting up to {DRAIN_SECONDS} s for ingestion to take {left} queued messages")
        deadline = time.monotonic() + DRAIN_SECONDS
        while left and time.monotonic() < deadline:
            time.sleep(1)
            left = sum(queue_counts(client, queue_url))
    except QueueError as exc:  # the server is gone: nothing left to wait for, stop the rest
        print(f"could not read the queue: {exc}")
        return 0
    if not left:
        print("the queue is empty: every message was ingested")
    return left


def _stop(
    sqs: subprocess.Popen | psutil.Process | None,
    simulator: subprocess.Popen | None,
    services: list[subprocess.Popen],
    env: dict[str, str],
) -> None:
    """Stop the traffic first, let Dagster ingest what is queued, then stop the rest."""
    processes.stop([simulator] if simulator else [])
    queue_url = env.get("NELO_SQS_QUEUE_URL")
    ingesting = bool(services) and services[0].poll() is None  # services[0] is Dagster
    left = _drain(env, queue_url) if sqs is not None and queue_url and ingesting else 0
    processes.stop(services)
    if left:
        print(f"{left} messages were still in the queue: stopping the local SQS server drops them")
    processes.stop([sqs] if sqs is not None else [])


def run() -> int:
    try:
        options = DemoOptions.from_env(os.environ)
    except DemoError as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 1
    settings = Settings.from_env()
    lake = Lake.from_settings(settings)
    env = _demo_environment(settings, options)
    dagster_home = Path(env["DAGSTER_HOME"])
    log_dir = dagster_home / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sqs: subprocess.Popen | psutil.Process | None = None
    simulator: subprocess.Popen | None = None
    services: list[subprocess.Popen] = []

    def shutdown(*_: object) -> None:
        raise KeyboardInterrupt

    # Explicit handlers: a shell that starts us in the background makes us ignore SIGINT.
    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        sqs = _sqs_server(options, env, log_dir)
        queue_url = _create_queue(env)
        env["NELO_SQS_QUEUE_URL"] = queue_url
        print(f"SQS queue (moto server): {queue_url}")

        new_history = _write_history(settings, lake, options)
        today = datetime.now(settings.tz).date()
        first_day = _first_history_day(lake, _history_dates(today, options.history_days)[0])
        env.setdefault("NELO_START_DATE", first_day.isoformat())
        publish_views(lake)

        simulator = start_live_traffic(queue_url, env, log_dir / "simulator.log")
        services.append(
            processes.start(
                # `dg dev` with a workspace file is `dagster dev` without its notice that dg
                # supersedes it; run in DAGSTER_HOME, it finds no other dagster.yaml to warn of.
                [
                    str(Path(sys.executable).with_name("dg")),
                    "dev",
                    "-w",
                    str(Path("workspace.yaml").resolve()),
                    "-p",
                    str(options.ui_port),
                ],
                env=env,
                log_path=log_dir / "dagster.log",
                cwd=dagster_home,
            )
        )
        services.append(
            processes.start(
                [
                    sys.executable,
                    "-m",
                    "streamlit",
                    "run",
                    "nelo_assets/serving/dashboard/app.py",
                    "--server.headless",
                    "true",
                    "--server.address",
                    options.dashboard_address,
                    "--server.port",
                    str(options.dashboard_port),
                    "--browser.gatherUsageStats",
                    "false",
                ],
                env=env,
                log_path=log_dir / "dashboard.log",
            )
        )
        children = [simulator, *services]
        processes.wait_until(
            lambda: processes.http_ok(f"http://127.0.0.1:{options.ui_port}/server_info"),
            STARTUP_DEADLINE_SECONDS,
            "Dagster",
            children,
        )
        if new_history:
            backfill_id = _launch_history_backfill(
                _history_dates(today, options.history_days), options.ui_port
            )
            print(f"history backfill launched: {backfill_id}")
        print(
            f"\nDagster UI:       http://127.0.0.1:{options.ui_port}\n"
            f"Dashboard:        http://{options.dashboard_address}:{options.dashboard_port}\n"
            f"Query surface:    {lake.duckdb_path} (open read-only)\n"
            f"Logs:             {log_dir}\n"
            "Live traffic flows into the queue; the sqs sensor ingests it and automation builds "
            "silver, gold and marts.\nPress Ctrl-C to stop everything.",
            flush=True,
        )
        processes.supervise(children, log_dir)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except (DemoError, processes.LaunchError) as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(sqs, simulator, services, env)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
