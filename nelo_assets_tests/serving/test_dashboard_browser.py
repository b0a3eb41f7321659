"""The dashboard in a real browser (Debian's Chromium via Playwright) against a simulated lake,
while another process rewrites partitions and the views: numbers match the marts, no lock error."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from nelo_assets.serving.dashboard import queries
from nelo_assets.serving.dashboard.queries import Filters
from nelo_assets.serving.dashboard.sample import Sample
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.helpers import CHROMIUM, CHROMIUM_ARGS, REPO, free_port, needs_chromium

APP = REPO / "nelo_assets" / "serving" / "dashboard" / "app.py"
SCREENSHOT = REPO / "test-artifacts" / "dashboard.png"
SAMPLE = Sample()
WRITER_ROUNDS = 2

# Re-materializes the last sample partition and rewrites analytics.duckdb, as a backfill plus a
# schema change would; the data stays identical (R3), so the numbers must too.
WRITER = """
import sys
from pathlib import Path
from nelo_assets.serving.analytics import publish_views
from nelo_assets.serving.dashboard.sample import Sample
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.pipeline import build_partitions
from nelo_assets.settings import Settings

sample = Sample()
settings = Settings.from_env(
    {"NELO_DATA_DIR": sys.argv[1], "NELO_START_DATE": sample.start.isoformat()}
)
lake = Lake(settings.data_dir)
print("ready", flush=True)
sys.stdin.readline()
for number in range(int(sys.argv[2])):
    build_partitions(lake, settings, [sample.dates[-1]])
    publish_views(lake, force=True)
    print(f"round {number}", flush=True)
"""


@pytest.fixture(scope="session")
def data_dir(dashboard_sample: Lake) -> Path:
    return dashboard_sample.root


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it if it is still there after a deadline."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def dashboard(data_dir: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "NELO_DATA_DIR": str(data_dir), "NELO_DASHBOARD_TTL_SECONDS": "1"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(APP),
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, f"streamlit exited: {log.read_text()}"
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                assert time.monotonic() < deadline, f"streamlit not ready: {log.read_text()}"
                time.sleep(0.2)  # poll interval while the server boots
        yield url
    finally:
        stop(server)
    assert "lock" not in log.read_text().lower()


def mart_lists(db: Path) -> list[tuple[str, int, float]]:
    """Lists by views over the whole sample, straight from the daily mart."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select item_list_name, sum(list_view_events), sum(attributed_revenue) "
            "from mart_item_list_daily group by 1 order by 2 desc, 1"
        ).fetchall()


@pytest.mark.browser
@needs_chromium
def test_dashboard_shows_the_marts_and_survives_a_concurrent_writer(
    dashboard: str, data_dir: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    db = data_dir / "analytics.duckdb"
    (top_name, top_views, top_revenue), (second_name, second_views, second_revenue), *_ = (
        mart_lists(db)
    )

    # The writer starts now, so its imports overlap the browser's start; it waits for "go".
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data_dir), str(WRITER_ROUNDS)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert writer.stdin and writer.stdout and writer.stderr
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in writer.stdout], daemon=True
    ).start()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})

        def metric(label: str) -> object:
            card = page.get_by_test_id("stMetric").filter(has_text=label)
            return card.get_by_test_id("stMetricValue")

        def expect_list(name: str, views: int, revenue: float) -> None:
            sync_api.expect(metric("Top list")).to_have_text(name, timeout=60_000)
            sync_api.expect(metric("List views")).to_have_text(f"{views:,}")
            sync_api.expect(metric("Attributed revenue")).to_have_text(f"{revenue:,.2f}")
            assert page.get_by_test_id("stException").count() == 0
            assert page.get_by_test_id("stAlertContentError").count() == 0

        try:
            page.goto(dashboard)
            expect_list(top_name, top_views, top_revenue)
            sync_api.expect(page.get_by_role("tab", name="List leaderboard")).to_be_visible()

            # The writer rewrites partitions and views while the page reloads and queries run.
            assert lines.get(timeout=120) == "ready\n"
            writer.stdin.write("go\n")
            writer.stdin.flush()
            everything = Filters(SAMPLE.dates[0], SAMPLE.dates[-1])
            rounds = reads = 0
            deadline = time.monotonic() + 120
            while rounds < WRITER_ROUNDS and time.monotonic() < deadline:
                board = queries.list_leaderboard(db, everything)  # raises on a lock error
                assert board["list_view_events"][0] == top_views
                reads += 1
                try:
                    lines.get(timeout=0.05)
                except queue.Empty:
                    if writer.poll() is not None and lines.empty():
                        break  # it died: its stderr is asserted below
                    continue
                rounds += 1
                page.reload()
                expect_list(top_name, top_views, top_revenue)
            errors = writer.stderr.read()  # until the writer exits
            assert writer.wait(timeout=60) == 0, errors
            assert "lock" not in errors.lower()
            assert rounds == WRITER_ROUNDS and reads > rounds
        finally:
            stop(writer)

        # The list filter: pick the second list, its numbers replace the top list's.
        lists_filter = page.get_by_test_id("stMultiSelect").filter(has_text="Lists")
        lists_filter.locator("input").fill(second_name)
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        expect_list(second_name, second_views, second_revenue)
        assert (second_views, second_revenue) != (top_views, top_revenue)

        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert SCREENSHOT.stat().st_size > 10_000


def test_app_renders_every_section_headless(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("NELO_DATA_DIR", str(data_dir))
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception and not app.error
    (top_name, top_views, _), *_ = mart_lists(data_dir / "analytics.duckdb")
    shown = {metric.label: metric.value for metric in app.metric}
    assert (shown["Top list"], shown["List views"]) == (top_name, f"{top_views:,}")
    assert len(app.dataframe) == 3, "list, product and platform tables"
    assert [tab.label for tab in app.tabs] == [
        "List leaderboard",
        "Product leaderboard",
        "Daily trends",
        "Platforms",
    ]


def test_app_without_data_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("NELO_DATA_DIR", str(tmp_path / "nothing-yet"))
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not app.exception
    assert len(app.info) == 1 and "No data yet" in app.info[0].value
    assert not app.metric and not app.dataframe
