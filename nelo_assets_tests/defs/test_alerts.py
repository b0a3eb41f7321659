"""The alert sensor against a real HTTP server and real check runs on an ephemeral instance."""

import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    SkipReason,
    asset,
    build_sensor_context,
    materialize,
)

from nelo_assets.defs import alerts
from nelo_assets.defs.resources import AlertsResource
from nelo_assets.defs.silver import checks as silver
from nelo_assets.settings import DEFAULT_UI_BASE_URL
from nelo_assets_tests.check_runs import DECLARED_CHECKS, run_checks
from nelo_assets_tests.clean_day import CHECK_DAY as D
from nelo_assets_tests.clean_day import World, copy_clean_day, write_clean_day

UI = "http://dagster.example:3000"


@dataclass
class Webhook:
    """A local HTTP server that records every POST body and answers with `status`."""

    server: ThreadingHTTPServer
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    hang: threading.Event | None = None  # when set up, requests wait on it (a slow webhook)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def texts(self) -> list[str]:
        return [post["text"] for post in self.posts]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    hook = Webhook(server)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.posts.append(json.loads(body))
            if hook.hang is not None:
                hook.hang.wait(10)
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass  # keep test output quiet

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        if hook.hang is not None:
            hook.hang.set()
        server.shutdown()
        server.server_close()
        thread.join()


class Ticker:
    """Evaluates alert_sensor like the daemon does, carrying the cursor between ticks."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self.cursor: str | None = None

    def __call__(self) -> SkipReason:
        from nelo_assets.definitions import defs

        # The resource as the code location configures it from the environment.
        settings = AlertsResource(
            webhook_url=os.environ.get("NELO_ALERT_WEBHOOK_URL"),
            ui_base_url=os.environ.get("NELO_UI_BASE_URL") or DEFAULT_UI_BASE_URL,
        )
        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=defs,
            resources={"alerts": settings},
        )
        result = alerts.alert_sensor(context)
        self.cursor = context.cursor
        assert isinstance(result, SkipReason)
        return result


@pytest.fixture(scope="module")
def clean_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clean_day(tmp_path_factory.mktemp("clean") / "data")


@pytest.fixture
def day(clean_day: Path, tmp_path: Path) -> World:
    """The clean day of test_checks, copied for this test."""
    return copy_clean_day(clean_day, tmp_path / "data")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, webhook: Webhook) -> pytest.MonkeyPatch:
    monkeypatch.setenv("NELO_ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("NELO_UI_BASE_URL", UI)
    return monkeypatch


def _break(day: World) -> None:
    """A WARN failure (a misspelt event name) and a blocking ERROR one (an orphan item)."""
    day.edit("silver_events", "event_id", "e4", event_name="purchse")
    orphan = {**day.tables["silver_items"][0], "item_record_id": "x:0", "event_id": "x"}
    day.save("silver_items", [*day.tables["silver_items"], orphan])


def test_one_alert_per_failure_nothing_twice_one_recovery(
    day: World, webhook: Webhook, env: pytest.MonkeyPatch
) -> None:
    instance = DagsterInstance.ephemeral()
    tick = Ticker(instance)
    assert "no new failure" in tick().skip_message
    clean = {table: list(rows) for table, rows in day.tables.items()}

    _break(day)
    evaluations = run_checks(day, [silver.silver_checks], instance)
    assert {n for n, e in evaluations.items() if not e.passed} == {
        silver.UNKNOWN_EVENT_NAMES.name,
        silver.ITEMS_HAVE_EVENTS.name,
    }
    tick()
    assert len(webhook.posts) == 2
    warn, error = sorted(webhook.texts(), key=lambda text: "WARN" not in text)
    assert warn.startswith("[FAILED WARN, non-blocking] check silver_events_unknown_event_names")
    assert f"on silver_events [{D}]" in warn and "'purchse' (1 events)" in warn
    assert f"{UI}/assets/silver_events?view=checks&checkDetail=" in warn
    assert f"{UI}/runs/" in warn
    assert error.startswith("[FAILED ERROR, blocking] check silver_items_have_events")
    assert f"on silver_items [{D}]" in error and "'x:0' -> event_id 'x'" in error
    # the run failed because of the blocking check: its alert already says so, no run alert
    assert not any(text.startswith("[RUN FAILED]") for text in webhook.texts())

    tick()
    run_checks(day, [silver.silver_checks], instance)  # still broken: the same failures again
    tick()
    assert len(webhook.posts) == 2

    for table, rows in clean.items():
        day.save(table, rows)
    assert all(e.passed for e in run_checks(day, [silver.silver_checks], instance).values())
    tick()
    recoveries = webhook.texts()[2:]
    assert len(recoveries) == 2
    assert all(text.startswith("[RECOVERED]") for text in recoveries)
    assert {text.split()[2] for text in recoveries} == {
        silver.UNKNOWN_EVENT_NAMES.name,
        silver.ITEMS_HAVE_EVENTS.name,
    }
    tick()
    assert len(webhook.posts) == 4

    cursor = json.loads(tick.cursor or "")
    assert cursor["failing"] == [] and len(tick.cursor or "") < 500


@asset
def exploding() -> None:
    raise RuntimeError("disk on fire")


def test_a_failed_run_alerts_once(webhook: Webhook, env: pytest.MonkeyPatch) -> None:
    instance = DagsterInstance.ephemeral()
    tick = Ticker(instance)
    run = materialize([exploding], instance=instance, raise_on_error=False)
    assert not run.success
    tick()
    tick()
    assert len(webhook.posts) == 1
    text = webhook.texts()[0]
    assert text.startswith("[RUN FAILED] __ephemeral_asset_job__")
    assert f"{UI}/runs/{run.run_id}" in text


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"  # nothing listens there any more


@pytest.mark.parametrize("failure", ["refused", "error 500", "timeout"])
def test_webhook_trouble_never_breaks_the_tick(
    day: World,
    webhook: Webhook,
    env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failure: str,
) -> None:
    if failure == "refused":
        env.setenv("NELO_ALERT_WEBHOOK_URL", _closed_port_url())
    elif failure == "error 500":
        webhook.status = 500
    else:
        webhook.hang = threading.Event()
        env.setattr(alerts, "WEBHOOK_TIMEOUT_SECONDS", 0.2)
    instance = DagsterInstance.ephemeral()
    _break(day)
    run_checks(day, [silver.silver_checks], instance)
    tick = Ticker(instance)
    result = tick()
    assert "sent 2 alerts (webhook unreachable: logged only)" in result.skip_message
    logged = capsys.readouterr().err
    assert "ALERT [FAILED WARN, non-blocking] check silver_events_unknown_event_names" in logged
    assert "ALERT [FAILED ERROR, blocking] check silver_items_have_events" in logged
    assert "alert webhook failed" in logged
    # one delivery attempt at most per tick once the webhook is known to be down
    assert len(webhook.posts) == (0 if failure == "refused" else 1)
    # the failures are recorded: the next tick does not alert them again
    assert "no new failure" in tick().skip_message


def test_the_sensor_watches_every_check_of_the_project() -> None:
    from nelo_assets.definitions import defs

    context = build_sensor_context(definitions=defs)
    assert len(alerts.check_keys(context)) == len(DECLARED_CHECKS)
    assert set(alerts.check_keys(context)) == set(defs.resolve_asset_graph().asset_check_keys)
    sensor = defs.resolve_sensor_def(alerts.ALERT_SENSOR_NAME)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
