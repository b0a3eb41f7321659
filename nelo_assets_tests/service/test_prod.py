"""`make prod` end to end: PostgreSQL, code server, webserver and daemon as separate processes,
against the local moto queue with live traffic, until the marts are built; the instance is on
PostgreSQL; Ctrl-C leaves no process. (A second start resumes the same cluster and instance:
checked by hand, 38 s more than this test can spend.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
import pytest

from nelo_assets.service.postgres import bin_dir
from nelo_assets.settings import DEFAULT_TIMEZONE
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.helpers import REPO, free_port
from nelo_assets_tests.service.test_demo import wait_for

STARTUP_SECONDS = 240
MARTS_SECONDS = 300

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bin_dir() is None and not os.environ.get("CI"),
        reason="PostgreSQL is not installed (apt-get install postgresql; make test does it)",
    ),
]


class Prod:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.lake = Lake(home / "data")
        self.ui_port = free_port()
        self.env = {
            **os.environ,
            "NELO_PROD_HOME": str(home),
            "NELO_DATA_DIR": str(home / "data"),
            "NELO_UI_PORT": str(self.ui_port),
            "NELO_CODE_SERVER_PORT": str(free_port()),
            "NELO_PROD_PG_PORT": str(free_port()),
            "NELO_DEMO_SQS_PORT": str(free_port()),
            "NELO_SENSOR_INTERVAL_SECONDS": "5",
            "NELO_AUTOMATION_INTERVAL_SECONDS": "5",
        }
        for key in (
            "AWS_ENDPOINT_URL_SQS",
            "NELO_SQS_QUEUE_URL",
            "DAGSTER_HOME",
            "DAGSTER_PG_HOST",
        ):
            self.env.pop(key, None)
        self.process: subprocess.Popen | None = None

    def start(self) -> list[str]:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nelo_assets.service.prod"],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        output: list[str] = []
        deadline = time.monotonic() + STARTUP_SECONDS
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        assert any("Dagster UI:" in line for line in output), "".join(output)
        return output

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=90) == 0

    def processes(self) -> list[psutil.Process]:
        """Every live process of this layout: by the NELO_DATA_DIR it inherited, or (PostgreSQL,
        started as another user) by its folder on the command line."""
        found = []
        for proc in psutil.process_iter():
            try:
                mine = proc.environ().get("NELO_DATA_DIR") == self.env["NELO_DATA_DIR"] or any(
                    str(self.home) in part for part in proc.cmdline()
                )
                if mine and proc.status() != "zombie":
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def command_lines(self) -> list[str]:
        """The command line of every live process; a run worker may exit while it is read."""
        lines = []
        for proc in self.processes():
            try:
                lines.append(" ".join(proc.cmdline()))
            except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess included
                continue
        return lines

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ui_port}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["data"]


@pytest.fixture(scope="module")
def prod() -> Iterator[Prod]:
    # Under /tmp, reachable by the postgres user (pytest's tmp folders are private to root).
    home = Path(tempfile.mkdtemp(prefix="nelo-prod-"))
    home.chmod(0o755)
    layout = Prod(home)
    layout.start()
    try:
        yield layout
    finally:
        if layout.process and layout.process.poll() is None:
            layout.process.kill()
        for proc in layout.processes():
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)


def test_sensor_ingests_and_automation_builds_the_marts(prod: Prod) -> None:
    today = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()
    wanted = [
        prod.lake.partition_file("mart_item_list_daily", today),
        prod.lake.partition_file("mart_product_daily_metrics", today),
    ]
    wait_for(lambda: all(p.exists() for p in wanted), MARTS_SECONDS, f"mart partitions {wanted}")


def test_processes_run_apart_on_a_postgres_instance(prod: Prod) -> None:
    commands = prod.command_lines()
    for part in ("code-server start", "dagster-webserver", "dagster-daemon run", "postgres -D"):
        assert any(part in command for command in commands), (part, commands)
    info = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "instance", "info"],
        env={**os.environ, "DAGSTER_HOME": str(prod.home / "dagster_home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0, info.stderr
    assert "run_storage: PostgresRunStorage" in info.stdout


def test_ctrl_c_stops_everything(prod: Prod) -> None:
    runs = prod.graphql("{ runsOrError { ... on Runs { count } } }")["runsOrError"]["count"]
    assert runs >= 1
    prod.stop()
    wait_for(lambda: not prod.processes(), 15, "every make prod process to exit")
