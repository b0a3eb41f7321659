"""The check and run alert sensors against a real HTTP server and real runs on an ephemeral
instance."""

import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    PreviewWarning,
    SkipReason,
    StaticPartitionsDefinition,
    asset,
    build_sensor_context,
    materialize,
    multi_asset_check,
)

from nelo_assets.defs.alerts import checks as check_alerts
from nelo_assets.defs.alerts import notifier
from nelo_assets.defs.alerts.runs import RUN_ALERT_SENSOR_NAME, run_alert_sensor
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


def alerts_resource() -> AlertsResource:
    """The resource as the code location configures it from the environment."""
    return AlertsResource(
        webhook_url=os.environ.get("NELO_ALERT_WEBHOOK_URL"),
        ui_base_url=os.environ.get("NELO_UI_BASE_URL") or DEFAULT_UI_BASE_URL,
    )


class Ticker:
    """Evaluates check_alert_sensor like the daemon does, carrying the cursor between ticks."""

    def __init__(self, instance: DagsterInstance, defs: Definitions | None = None) -> None:
        self.instance = instance
        self.defs = defs
        self.cursor: str | None = None

    def __call__(self) -> SkipReason:
        from nelo_assets.definitions import defs

        context = build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=self.defs or defs,
            resources={"alerts": alerts_resource()},
        )
        result = check_alerts.check_alert_sensor(context)
        self.cursor = context.cursor
        assert isinstance(result, SkipReason)
        return result


class RunTicker:
    """Evaluates run_alert_sensor through Dagster's own run-status machinery and cursor."""

    def __init__(self, instance: DagsterInstance) -> None:
        self.instance = instance
        self.cursor: str | None = None

    def __call__(self) -> None:
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"alerts": alerts_resource()}
        )
        self.cursor = run_alert_sensor.evaluate_tick(context).cursor


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
    assert warn.startswith(
        "[WARN DIGEST] check silver_events_unknown_event_names on silver_events: failing on 1"
    )
    assert f"- {D}: fails: " in warn and "'purchse' (1 events)" in warn
    assert f"{UI}/assets/silver_events?view=checks&checkDetail=" in warn
    assert error.startswith("[FAILED ERROR, blocking] check silver_items_have_events")
    assert f"on silver_items [{D}]" in error and "'x:0' -> event_id 'x'" in error
    assert f"{UI}/runs/" in error

    tick()
    run_checks(day, [silver.silver_checks], instance)  # still broken: the same failures again
    tick()
    assert len(webhook.posts) == 2

    for table, rows in clean.items():
        day.save(table, rows)
    assert all(e.passed for e in run_checks(day, [silver.silver_checks], instance).values())
    tick()
    warn_back, error_back = sorted(webhook.texts()[2:], key=lambda text: "WARN" not in text)
    assert warn_back.startswith(
        "[WARN DIGEST] check silver_events_unknown_event_names on silver_events: recovered on 1"
    )
    assert error_back.startswith(
        f"[RECOVERED] check silver_items_have_events on silver_items [{D}] passes again"
    )
    tick()
    assert len(webhook.posts) == 4

    cursor = json.loads(tick.cursor or "")
    assert cursor["failing"] == [] and len(tick.cursor or "") < 500


# A soft rule and a gate on three partitions of a stand-in asset: whether each partition
# passes is set by the test, so one tick can see many partitions change at once.
DAYS = StaticPartitionsDefinition(["2026-03-01", "2026-03-02", "2026-03-03"])
BROKEN: dict[str, set[str]] = {"soft_rule": set(), "gate": set()}


@asset(partitions_def=DAYS)
def graded() -> None:
    pass


with pytest.warns(PreviewWarning):  # partitioned check specs, as the project's checks use them
    GRADED_SPECS = [
        AssetCheckSpec("soft_rule", asset="graded", partitions_def=DAYS),
        AssetCheckSpec("gate", asset="graded", partitions_def=DAYS, blocking=True),
    ]


@multi_asset_check(specs=GRADED_SPECS)
def graded_checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
    for name, severity in (("soft_rule", "WARN"), ("gate", "ERROR")):
        broken = context.partition_key in BROKEN[name]
        yield AssetCheckResult(
            asset_key="graded",
            check_name=name,
            passed=not broken,
            severity=AssetCheckSeverity(severity),
            description=f"{name} {'broken' if broken else 'fine'} on {context.partition_key}",
        )


def _grade(instance: DagsterInstance, soft: set[str], gate: set[str]) -> None:
    """Materialize every partition with the given ones failing each check."""
    BROKEN.update(soft_rule=soft, gate=gate)
    for day in DAYS.get_partition_keys():
        materialize(
            [graded, graded_checks], partition_key=day, instance=instance, raise_on_error=False
        )


def _kinds_per_check(texts: list[str]) -> Counter[str]:
    """Messages of one tick by their first line's tag and check name."""
    return Counter(" ".join(text.split()[:4]) for text in texts)


def test_warn_failures_of_a_tick_are_one_digest_per_check(
    webhook: Webhook, env: pytest.MonkeyPatch
) -> None:
    instance = DagsterInstance.ephemeral()
    tick = Ticker(instance, Definitions(assets=[graded], asset_checks=[graded_checks]))
    days = DAYS.get_partition_keys()

    _grade(instance, soft=set(days), gate={days[0], days[1]})
    tick()
    first = webhook.texts()
    # At most one WARN digest per check and tick; each gate failure alone.
    assert _kinds_per_check(first) == {
        "[WARN DIGEST] check soft_rule": 1,
        "[FAILED ERROR, blocking] check": 2,
    }
    (digest,) = [text for text in first if text.startswith("[WARN DIGEST]")]
    assert digest.startswith("[WARN DIGEST] check soft_rule on graded: failing on 3")
    assert all(f"- {day}: fails: soft_rule broken on {day}" in digest for day in days)

    _grade(instance, soft={days[2]}, gate=set())
    tick()
    second = webhook.texts()[len(first) :]
    assert _kinds_per_check(second) == {
        "[WARN DIGEST] check soft_rule": 1,
        "[RECOVERED] check gate on": 2,
    }
    (digest,) = [text for text in second if text.startswith("[WARN DIGEST]")]
    assert digest.startswith("[WARN DIGEST] check soft_rule on graded: recovered on 2")
    assert days[2] not in digest

    _grade(instance, soft={days[2]}, gate=set())  # nothing changed: nothing to say
    tick()
    assert len(webhook.posts) == len(first) + len(second)


@asset
def exploding() -> None:
    raise RuntimeError("disk on fire")


def test_a_failed_run_alerts_once(webhook: Webhook, env: pytest.MonkeyPatch) -> None:
    instance = DagsterInstance.ephemeral()
    tick = RunTicker(instance)
    tick()  # Dagster's run-failure sensor starts from the newest event at its first tick
    run = materialize([exploding], instance=instance, raise_on_error=False)
    assert not run.success
    tick()
    tick()
    assert len(webhook.posts) == 1
    text = webhook.texts()[0]
    assert text.startswith("[RUN FAILED] __ephemeral_asset_job__")
    assert "failed" in text and "exploding" in text  # the step that failed
    assert f"{UI}/runs/{run.run_id}" in text


def test_a_run_a_blocking_check_stopped_sends_no_run_alert(
    day: World, webhook: Webhook, env: pytest.MonkeyPatch
) -> None:
    instance = DagsterInstance.ephemeral()
    tick = RunTicker(instance)
    tick()
    _break(day)
    run_checks(day, [silver.silver_checks], instance)
    failed = instance.get_runs()
    assert [run.status.value for run in failed] == ["FAILURE"]
    tick()
    assert webhook.posts == []  # the check alert says why


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
        env.setattr(notifier, "WEBHOOK_TIMEOUT_SECONDS", 0.2)
    instance = DagsterInstance.ephemeral()
    _break(day)
    run_checks(day, [silver.silver_checks], instance)
    tick = Ticker(instance)
    result = tick()
    assert "sent 2 alerts (webhook unreachable: logged only)" in result.skip_message
    logged = capsys.readouterr().err
    assert "ALERT [WARN DIGEST] check silver_events_unknown_event_names" in logged
    assert "ALERT [FAILED ERROR, blocking] check silver_items_have_events" in logged
    assert "alert webhook failed" in logged
    # one delivery attempt at most per tick once the webhook is known to be down
    assert len(webhook.posts) == (0 if failure == "refused" else 1)
    # the failures are recorded: the next tick does not alert them again
    assert "no new failure" in tick().skip_message


def test_the_sensors_watch_every_check_and_run_of_the_project() -> None:
    from nelo_assets.definitions import defs

    context = build_sensor_context(definitions=defs)
    assert len(check_alerts.check_keys(context)) == len(DECLARED_CHECKS)
    assert set(check_alerts.check_keys(context)) == set(defs.resolve_asset_graph().asset_check_keys)
    for name in (check_alerts.CHECK_ALERT_SENSOR_NAME, RUN_ALERT_SENSOR_NAME):
        assert defs.resolve_sensor_def(name).default_status == DefaultSensorStatus.RUNNING
