"""`make demo` end to end: live traffic and history reach gold with no click; Ctrl-C leaves nothing.

Starts the real launcher (moto server, simulator, `dagster dev` with its daemon) against
temporary directories and free ports, with a small history so it runs in a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil
import pytest

from nelo_assets.settings import DEFAULT_TIMEZONE
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from nelo_assets_tests.environment import REPO, free_port

STARTUP_SECONDS = 300
GOLD_SECONDS = 300
HISTORY_DAYS = 3

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


@dataclass
class Demo:
    process: subprocess.Popen
    lake: Lake
    ui_url: str
    output: list[str]
    log_dir: Path
    env: dict[str, str]


def start_demo(env: dict[str, str]) -> tuple[subprocess.Popen, list[str]]:
    """The launcher, and what it printed up to "Press Ctrl-C" (it keeps printing on stop)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nelo_assets.service.demo"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    assert any("Dagster UI:" in line for line in output), "".join(output)
    return process, output


def kill_all(process: subprocess.Popen, data_dir: Path) -> None:
    if process.poll() is None:
        process.kill()
    for child in _processes_of(data_dir):
        with suppress(psutil.NoSuchProcess):
            child.kill()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    ui_port = free_port()
    env = {
        **os.environ,
        "NELO_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(dagster_home),
        "NELO_UI_PORT": str(ui_port),
        "NELO_DASHBOARD_PORT": str(free_port()),
        "NELO_DEMO_SQS_PORT": str(free_port()),
        "NELO_DEMO_HISTORY_DAYS": str(HISTORY_DAYS),
        "NELO_DEMO_EVENTS_PER_DAY": "400",
        "NELO_SENSOR_INTERVAL_SECONDS": "5",
        "NELO_AUTOMATION_INTERVAL_SECONDS": "5",
    }
    for key in ("AWS_ENDPOINT_URL_SQS", "NELO_SQS_QUEUE_URL", "NELO_START_DATE"):
        env.pop(key, None)
    process, output = start_demo(env)
    lake = Lake(root / "data")
    try:
        yield Demo(
            process, lake, f"http://127.0.0.1:{ui_port}", output, dagster_home / "demo-logs", env
        )
    finally:
        kill_all(process, lake.root)


def test_history_reaches_gold_and_marts_with_no_click(demo: Demo) -> None:
    yesterday = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date() - timedelta(days=1)
    wanted = [
        demo.lake.partition_file("fact_event_items", yesterday),
        demo.lake.partition_file("mart_item_list_daily", yesterday),
        demo.lake.partition_file("mart_product_daily_metrics", yesterday),
    ]
    wait_for(lambda: all(p.exists() for p in wanted), GOLD_SECONDS, f"gold partitions {wanted}")


def test_partitions_start_with_the_history_and_tomorrow_waits_for_events(demo: Demo) -> None:
    today = datetime.now(ZoneInfo(DEFAULT_TIMEZONE)).date()
    query = '{ assetNodeOrError(assetKey: {path: ["silver_events"]}) { ... on AssetNode { partitionKeys } } }'
    keys = graphql(demo.ui_url, query)["assetNodeOrError"]["partitionKeys"]
    assert keys[0] == (today - timedelta(days=HISTORY_DAYS)).isoformat()
    assert keys[-1] == (today + timedelta(days=1)).isoformat()
    tomorrow = today + timedelta(days=1)
    if not demo.lake.partition_dir("bronze_events", tomorrow).exists():
        assert not demo.lake.partition_file("mart_item_list_daily", tomorrow).exists()
        assert not demo.lake.partition_file("fact_events", tomorrow).exists()


def graphql(ui_url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{ui_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["data"]


def _failed_steps(ui_url: str) -> list[tuple[str, str]]:
    """(run id, step key) of every failed step of every failed run."""
    query = (
        "{ runsOrError(filter: {statuses: [FAILURE]}) { ... on Runs { results { runId "
        "stepStats { stepKey status } } } } }"
    )
    runs = graphql(ui_url, query)["runsOrError"]["results"]
    return [
        (run["runId"], step["stepKey"])
        for run in runs
        for step in run["stepStats"]
        if step["status"] == "FAILURE"
    ]


def test_no_asset_or_job_step_failed(demo: Demo) -> None:
    """No run failed in an asset or job step. A blocking check may stop a run on purpose: live
    ingestion and the history backfill can rebuild one partition's parents out of step for a
    moment; the check holds the partition back, and the next update heals it."""
    crashed = [
        (run, step) for run, step in _failed_steps(demo.ui_url) if not step.endswith("_checks")
    ]
    assert crashed == []


def test_live_traffic_is_ingested_by_the_sensor(demo: Demo) -> None:
    landing_files = lambda: list(demo.lake.landing_dir.glob("*/*/*/*.jsonl.gz"))  # noqa: E731
    before = len(landing_files())
    wait_for(
        lambda: len(landing_files()) > before,
        GOLD_SECONDS,
        "an ingest run to land live messages from the queue",
    )


ARTIFACTS = REPO / "test-artifacts"
LOCATION = "nelo_assets"


def dismiss_first_visit_dialog(page: Any) -> None:
    """Dagster shows a community dialog once per instance; it fades in a moment after load."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        return
    skip.click()
    skip.wait_for(state="hidden")


@pytest.mark.browser
@needs_chromium
def test_dagster_ui_shows_assets_partitions_and_checks(demo: Demo) -> None:
    from playwright.sync_api import sync_playwright

    from nelo_assets.definitions import defs

    mart_checks = sorted(
        key.name
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key.to_user_string() == "mart_item_list_daily"
    )
    assert mart_checks, "mart_item_list_daily has checks to show"
    silver_checks = [
        key.name
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key.to_user_string() == "silver_events"
    ]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)

        page.goto(f"{demo.ui_url}/asset-groups")
        page.get_by_text("Global asset lineage").wait_for()
        dismiss_first_visit_dialog(page)
        for group in ("bronze", "silver", "gold", "marts"):
            page.get_by_text(group, exact=True).first.wait_for()

        page.goto(f"{demo.ui_url}/locations/{LOCATION}/asset-groups/gold/lineage")
        for asset in ("fact_events", "fact_event_items", "dim_items", "dim_users"):
            page.get_by_text(asset, exact=True).first.wait_for()
        page.get_by_text("Loading...").first.wait_for(state="hidden")
        page.screenshot(path=str(ARTIFACTS / "dagster-gold-lineage.png"))

        page.goto(f"{demo.ui_url}/assets/mart_item_list_daily")
        page.get_by_text("Which item lists drive the most engagement").wait_for()
        page.get_by_text("list_view_events").first.wait_for()  # the column schema
        page.screenshot(path=str(ARTIFACTS / "dagster-mart-asset.png"))

        page.goto(f"{demo.ui_url}/assets/mart_item_list_daily?view=partitions")
        page.get_by_text("Materialized (").first.wait_for()
        materialized = page.get_by_text("Materialized (").first.inner_text()
        assert int(materialized.split("(")[1].rstrip(")")) >= 1, materialized
        page.screenshot(path=str(ARTIFACTS / "dagster-mart-partitions.png"))

        page.goto(f"{demo.ui_url}/assets/mart_item_list_daily?view=checks")
        for check in mart_checks:
            page.get_by_text(check, exact=True).first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "dagster-mart-checks.png"))

        # Every check of silver_events ran (the history backfill and live updates): none may
        # read "Not evaluated", as they all did while a range run's days named no build.
        page.goto(f"{demo.ui_url}/assets/silver_events?view=checks")
        page.get_by_text("Execute all").wait_for()
        page.get_by_text("Succeeded").first.wait_for()
        page.get_by_text("Loading...").first.wait_for(state="hidden")
        body = page.locator("body").inner_text()
        page.screenshot(path=str(ARTIFACTS / "dagster-silver-checks.png"))
        browser.close()
    # The list of checks, each name with its state, between the header and the selected
    # check's own pane.
    listing = body.split("Execute all", 1)[1].split("\nExecute\n", 1)[0]
    assert "not evaluated" not in listing.lower(), listing
    states = re.findall(r"^(Succeeded|Failed|In progress)$", listing, re.MULTILINE | re.IGNORECASE)
    assert len(states) == len(silver_checks), listing


def _processes_of(data_dir: Path) -> list[psutil.Process]:
    """Every live process started for this demo, found by the NELO_DATA_DIR it inherited,
    so that orphans adopted by init are found too."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("NELO_DATA_DIR") == str(data_dir) and proc.status() != "zombie":
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


# Each WARNING the demo's log may hold, with its reason (at most five).
ALLOWED_WARNINGS = {
    "WARNING: This is a development server": "moto's Flask server on start: the local SQS "
    "server is the demo's stand-in for AWS, never deployed",
    "No cursor for event type": "Dagster's event log consumer on a new instance: there are no "
    "older run events to read",
}
WARNING_LINE = re.compile(r"WARNING|\w+Warning:")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_the_log_holds_no_unexplained_warning(demo: Demo) -> None:
    """Until the marts are built (the tests above waited for them), every log of the demo is
    free of warnings beyond the allow-list, at the level the demo ships with."""
    assert len(ALLOWED_WARNINGS) <= 5
    lines = list(demo.output)
    for log in sorted(demo.log_dir.glob("*.log")):
        lines += ANSI.sub("", log.read_text(errors="replace")).splitlines()
    unexplained = [
        line
        for line in lines
        if WARNING_LINE.search(line) and not any(allowed in line for allowed in ALLOWED_WARNINGS)
    ]
    assert unexplained == []
    # Quiet because nothing warned, not because warnings were hidden: INFO lines still show,
    # no process logs above WARNING, and none runs with Python warnings turned off.
    dagster_log = ANSI.sub("", (demo.log_dir / "dagster.log").read_text())
    assert " - INFO - " in dagster_log
    for process in _processes_of(demo.lake.root):
        with suppress(psutil.NoSuchProcess):
            argv = process.cmdline()
            levels = {argv[n + 1].lower() for n, arg in enumerate(argv[:-1]) if "log-level" in arg}
            assert not levels & {"error", "critical"}, argv
            assert "-W" not in argv, argv
            assert "ignore" not in process.environ().get("PYTHONWARNINGS", "")


def _ingest_run_started_after(ui_url: str, moment: float) -> bool:
    query = (
        '{ runsOrError(filter: {pipelineName: "ingest_job"}, limit: 5) { ... on Runs { '
        "results { startTime } } } }"
    )
    runs = graphql(ui_url, query)["runsOrError"]["results"]
    return any((run["startTime"] or 0) > moment for run in runs)


def test_kill_9_restart_then_ctrl_c_leaves_no_process(demo: Demo) -> None:
    """kill -9 of everything but the local SQS server (a crash), a restart that takes the
    server over, then Ctrl-C: the queue is drained or its leftovers reported, nothing runs."""
    running = _processes_of(demo.lake.root)
    assert len(running) >= 5, "launcher, moto, simulator, dashboard and dagster dev should run"
    (server,) = [p for p in running if "moto.server" in p.cmdline()]
    for process in running:
        if process.pid != server.pid:
            with suppress(psutil.NoSuchProcess):
                process.kill()
    wait_for(
        lambda: [p.pid for p in _processes_of(demo.lake.root)] == [server.pid],
        30,
        "every demo process but the SQS server to die",
    )

    restarted_at = time.time()
    process, output = start_demo(demo.env)
    try:
        assert any("taking over the local SQS server" in line for line in output), output
        wait_for(
            lambda: _ingest_run_started_after(demo.ui_url, restarted_at),
            120,
            "an ingest run after the restart",
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0
        assert process.stdout is not None
        stopped = process.stdout.read()
        wait_for(lambda: not _processes_of(demo.lake.root), 15, "every demo process to exit")
    finally:
        kill_all(process, demo.lake.root)
    assert "stopping..." in stopped
    # Either the queue was drained, or the stop says how many messages it dropped.
    assert "waiting up to" not in stopped or re.search(
        r"the queue is empty|\d+ messages were still in the queue", stopped
    ), stopped
