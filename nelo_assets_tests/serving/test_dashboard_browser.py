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
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from nelo_assets.serving.dashboard import queries
from nelo_assets.serving.dashboard.app import interval, percent, ratio
from nelo_assets.serving.dashboard.queries import Filters
from nelo_assets.serving.dashboard.sample import Sample, build_sample_lake
from nelo_assets.serving.dashboard.stats import wilson_interval
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from nelo_assets_tests.environment import REPO, free_port

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


def mart_positions(db: Path) -> list[list[str]]:
    """The position chart's numbers over the whole sample, straight from the position mart."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select item_list_name, position_in_list, sum(item_impressions), sum(item_clicks) "
            "from mart_list_position_daily group by 1, 2 order by 1, 2"
        ).fetchall()
    return [
        [
            name,
            str(position),
            f"{shown:,}",
            f"{clicks:,}",
            percent(clicks / shown if shown else None),
        ]
        for name, position, shown, clicks in rows
    ]


def mart_clicks_over_expected(db: Path, list_name: str) -> str:
    """docs/tables.md's clicks over expected of one list over the whole sample, by direct SQL."""
    with duckdb.connect(str(db), read_only=True) as con:
        (value,) = con.execute(
            """
            with positions as (
                select item_list_name, position_in_list,
                    sum(item_impressions) as shown, sum(item_clicks) as clicks
                from mart_list_position_daily group by 1, 2
            ),
            rates as (
                select position_in_list, sum(clicks) / nullif(sum(shown), 0) as r
                from positions group by 1
            )
            select sum(clicks) / sum(shown * coalesce(r, 0))
            from positions join rates using (position_in_list)
            where item_list_name = ?
            """,
            [list_name],
        ).fetchone()
    return ratio(value)


def mart_day(db: Path, day: object, list_name: str) -> tuple[int, int, int]:
    """(list_viewers, list_clickers, list_view_events) of one list on one day, from the mart."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select list_viewers, list_clickers, list_view_events from mart_item_list_daily "
            "where event_date = ? and item_list_name = ?",
            [day, list_name],
        ).fetchone()


def table_rows(table: object) -> list[list[str]]:
    return [
        [cell.strip() for cell in row.locator("th, td").all_inner_texts()][-5:]
        for row in table.locator("tbody tr").all()  # type: ignore[attr-defined]
    ]


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

        # The position effect over the whole sample: the chart's numbers and one list's clicks
        # over expected equal direct SQL over mart_list_position_daily.
        page.get_by_role("tab", name="Position effect").click()
        page.get_by_test_id("stExpander").filter(has_text="numbers behind").locator(
            "summary"
        ).click()
        tables = page.get_by_test_id("stTable")
        tables.first.wait_for()
        assert table_rows(tables.nth(0)) == mart_positions(db)
        over = {row[0]: row[-1] for row in table_rows(tables.nth(1))}
        assert over[top_name] == mart_clicks_over_expected(db, top_name)
        page.get_by_role("tab", name="List leaderboard").click()

        # The list filter: pick the second list, its numbers replace the top list's.
        lists_filter = page.get_by_test_id("stMultiSelect").filter(has_text="Lists")
        lists_filter.locator("input").fill(second_name)
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        expect_list(second_name, second_views, second_revenue)
        assert (second_views, second_revenue) != (top_views, top_revenue)

        # One day (the last): the interval of the chosen list's click-through rate is the Wilson
        # interval of its mart row, and its views change against the day before.
        page.get_by_role("spinbutton", name="day, Dates start date").click()
        for _ in range(SAMPLE.days - 1):
            page.keyboard.press("ArrowUp")
        page.get_by_role("heading", name="Nelo Growth").click()  # leaves the field: applies it
        viewers, clickers, views = mart_day(db, SAMPLE.dates[-1], second_name)
        *_, views_before = mart_day(db, SAMPLE.dates[-2], second_name)
        sync_api.expect(metric("CTR 95% interval")).to_have_text(
            interval(*wilson_interval(clickers, viewers)), timeout=60_000
        )
        sync_api.expect(metric("List views")).to_have_text(f"{views:,}")
        delta = page.get_by_test_id("stMetric").filter(has_text="List views")
        sync_api.expect(delta.get_by_test_id("stMetricDelta")).to_have_text(
            f"{views - views_before:+,}"
        )

        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.get_by_role("tab", name="Position effect").click()
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
    assert len(app.dataframe) == 5, "lists, user funnel, item counts, products, platforms"
    assert len(app.table) == 2, "position numbers, clicks over expected"
    assert all("None" not in frame.value.to_string() for frame in [*app.dataframe, *app.table])
    assert [tab.label for tab in app.tabs] == [
        "List leaderboard",
        "Position effect",
        "List funnel",
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


NARROW = {"width": 1400, "height": 900}
# Text an element clips (CSS ellipsis) is wider than its box; Vega cuts a label with "…"; a
# chart's text past the edge of its drawing is cut off too.
CUT_TEXT = """() => [
    ...[...document.querySelectorAll('[data-testid=stMetricValue] *')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText),
    ...[...document.querySelectorAll('[data-testid=stVegaLiteChart] svg text')]
        .map(e => e.textContent).filter(t => t.includes('…')),
    ...[...document.querySelectorAll('[data-testid=stVegaLiteChart] svg')].flatMap(svg => {
        const edge = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].filter(text => {
            const box = text.getBoundingClientRect();
            return box.width && (box.left < edge.left - 1 || box.right > edge.right + 1);
        }).map(text => text.textContent);
    }),
]"""
# The column headers the data grid renders: only the columns inside its visible area.
VISIBLE_HEADERS = (
    """grid => [...grid.querySelectorAll('[role=columnheader]')].map(e => e.innerText)"""
)
GRID_ROWS = """grid => [...grid.querySelectorAll('[role=row]')].slice(1).map(
    row => [...row.querySelectorAll('[role=gridcell]')].map(e => e.innerText))"""
# The bar chart's category labels, top to bottom.
BAR_LABELS = """chart => [...chart.querySelectorAll('.role-axis-label text')]
    .map(e => [e.getBoundingClientRect().y, e.textContent]).filter(([, t]) => isNaN(t.replace(/[,.%+−-]/g, '')))
    .sort((a, b) => a[0] - b[0]).map(([, t]) => t)"""


@pytest.mark.browser
@needs_chromium
def test_nothing_is_cut_off_at_1400_px(dashboard: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = SCREENSHOT.parent
    shots.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=NARROW)

        def visible(test_id: str) -> object:
            return page.locator(f"[data-testid={test_id}]:visible")

        def charts_drawn() -> None:
            sync_api.expect(visible("stVegaLiteChart").locator("svg text").first).to_be_attached(
                timeout=60_000
            )

        page.goto(dashboard)
        sync_api.expect(visible("stMetricValue").first).to_be_visible(timeout=60_000)
        assert page.get_by_role("button", name="Deploy").count() == 0, "toolbar in viewer mode"
        assert page.evaluate(CUT_TEXT) == []
        page.screenshot(path=str(shots / "dashboard-1400-default.png"))

        page.get_by_role("tab", name="List funnel").click()
        charts_drawn()
        assert page.evaluate(CUT_TEXT) == []
        visible("stVegaLiteChart").first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "dashboard-1400-funnel.png"))

        page.get_by_role("tab", name="Position effect").click()
        charts_drawn()
        assert page.evaluate(CUT_TEXT) == []

        page.get_by_role("tab", name="Product leaderboard").click()
        for sort in ("Revenue", "Purchase-to-view rate"):
            choice = visible("stSelectbox").filter(has_text="Sort by").get_by_role("combobox")
            choice.click()
            choice.fill(sort)
            page.keyboard.press("Enter")
            grid = visible("stDataFrame").first
            sync_api.expect(grid.locator("[role=columnheader]").first).to_be_attached(
                timeout=60_000
            )
            grid.scroll_into_view_if_needed()
            label = "Revenue (MXN)" if sort == "Revenue" else sort
            # Rendered headers are the columns on screen: the sorted one must be among them.
            sync_api.expect(
                grid.locator("[role=columnheader]").filter(has_text=label).first
            ).to_be_attached(timeout=60_000)
            rows = grid.evaluate(GRID_ROWS)
            assert len(rows) == 25, "every row of the top 25 shows"
            charts_drawn()
            chart = visible("stVegaLiteChart").first
            table_order = [f"{name} ({sku})" for sku, name, *_ in rows[:10]]
            sync_api.expect(chart.locator(".role-axis-label text").first).to_be_attached()
            deadline = time.monotonic() + 30
            while chart.evaluate(BAR_LABELS) != table_order and time.monotonic() < deadline:
                time.sleep(0.2)  # the chart is drawn just after the table
            assert chart.evaluate(BAR_LABELS) == table_order, "the chart follows the table"
            assert page.evaluate(CUT_TEXT) == []
        page.screenshot(path=str(shots / "dashboard-1400-products.png"))
        browser.close()


@pytest.fixture(scope="module")
def lake_ending_today(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small simulated days, the last one today in the business time zone."""
    today = datetime.now(Settings.from_env({}).tz).date()
    sample = Sample(start=today - timedelta(days=2), days=3, events_per_day=300)
    return build_sample_lake(tmp_path_factory.mktemp("today") / "data", sample).root


def test_the_default_view_compares_complete_days_and_today_is_marked_partial(
    lake_ending_today: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("NELO_DATA_DIR", str(lake_ending_today))
    today = datetime.now(Settings.from_env({}).tz).date()
    first, yesterday = today - timedelta(days=2), today - timedelta(days=1)
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception and not app.error
    assert app.subheader[0].value == f"Most viewed list, {first} to {yesterday}"
    assert not [caption for caption in app.caption if "partial" in caption.value]

    app.date_input[0].set_value((first, today)).run()
    assert not app.exception and not app.error
    assert app.subheader[0].value.startswith(f"Most viewed list, {first} to {today} (partial, to ")
    previous_end = first - timedelta(days=1)
    assert [
        caption
        for caption in app.caption
        if f"Today, {today}, is partial" in caption.value
        and f"last day, {previous_end}, is cut at the same time" in caption.value
    ]
    assert [caption for caption in app.caption if "dashed line and faded bar" in caption.value]
