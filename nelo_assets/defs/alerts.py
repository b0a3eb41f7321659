"""The alert sensor: one message per new check failure or failed run, one when a check recovers.

Open-source Dagster sends no alerts, and a WARN or non-blocking check failure leaves its run
successful (dagster#29896), so a run-failure sensor alone would miss them: this sensor reads the
check executions themselves. Each tick only reads the instance (indexed queries from a cursor)
and posts Slack-compatible JSON to NELO_ALERT_WEBHOOK_URL; every alert is also logged, and a
webhook that is down, slow or failing never breaks the tick (R5).
"""

import http.client
import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from nelo_assets.defs.resources import AlertsResource
from nelo_assets.defs.settings import SETTINGS

ALERT_SENSOR_NAME = "alert_sensor"
ERROR = AssetCheckSeverity.ERROR
WEBHOOK_TIMEOUT_SECONDS = 2.0
PAGE_SIZE = 100  # check executions per query
MAX_RUN_FAILURES_PER_TICK = 50  # the rest wait for the next tick, keeping ticks short


@dataclass
class AlertState:
    """The sensor cursor: the last check execution read, the failures currently alerted and the
    run-failure event cursor. Small JSON: it grows only with checks failing right now."""

    after_execution_id: int = 0
    failing: set[str] = field(default_factory=set)
    runs_cursor: str | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "AlertState":
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(data["after"], set(data["failing"]), data.get("runs"))

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "after": self.after_execution_id,
                "failing": sorted(self.failing),
                "runs": self.runs_cursor,
            },
            separators=(",", ":"),
        )


def failure_id(key: AssetCheckKey, partition: str | None) -> str:
    return f"{key.asset_key.to_user_string()}|{key.name}|{partition or ''}"


def check_url(base_url: str, key: AssetCheckKey) -> str:
    path = "/".join(quote(part) for part in key.asset_key.path)
    return f"{base_url}/assets/{path}?view=checks&checkDetail={quote(key.name)}"


def post_webhook(url: str, text: str, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> str | None:
    """POST {"text": ...}; return None when delivered, else why it was not (never raises)."""
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # URLError, HTTPError (a 500), refused, reset and timeouts are all OSError here.
        return f"{type(exc).__name__}: {exc}"
    return None


class Notifier:
    """Logs every alert and posts it; after the first delivery failure in a tick it only logs,
    so a dead webhook costs one timeout per tick at most."""

    def __init__(self, context: SensorEvaluationContext, webhook_url: str | None) -> None:
        self.log = context.log
        self.webhook_url = webhook_url
        self.webhook_down = False
        self.sent = 0

    def __call__(self, text: str, failure: bool) -> None:
        (self.log.warning if failure else self.log.info)(f"ALERT {text}")
        self.sent += 1
        if not self.webhook_url or self.webhook_down:
            return
        error = post_webhook(self.webhook_url, text, WEBHOOK_TIMEOUT_SECONDS)
        if error:
            self.webhook_down = True
            self.log.error(f"alert webhook failed ({error}); alert kept in this log only")


def _new_executions(instance: DagsterInstance, key: AssetCheckKey, after: int) -> list[Any]:
    """Executions of one check with an id above `after`, newest first (paged, indexed)."""
    storage = instance.event_log_storage
    found: list[Any] = []
    cursor = None
    while True:
        page = storage.get_asset_check_execution_history(key, limit=PAGE_SIZE, cursor=cursor)
        fresh = [record for record in page if record.id > after]
        found.extend(fresh)
        if len(fresh) < PAGE_SIZE:
            return found
        cursor = page[-1].id


def _check_alerts(
    instance: DagsterInstance,
    keys: Sequence[AssetCheckKey],
    state: AlertState,
    notify: Notifier,
    base_url: str,
) -> None:
    latest: dict[str, Any] = {}  # failure id -> its newest completed execution
    pending: list[int] = []  # planned executions whose run is still going
    finished: dict[str, bool] = {}
    newest = state.after_execution_id
    # One query finds the checks executed since the cursor; only those are paged through.
    latest_by_key = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    changed = [k for k, r in latest_by_key.items() if r.id > state.after_execution_id]
    for key in changed:
        for record in _new_executions(instance, key, state.after_execution_id):
            newest = max(newest, record.id)
            if record.status.value == "PLANNED":
                if record.run_id not in finished:
                    run = instance.get_run_record_by_id(record.run_id)
                    finished[record.run_id] = run is None or run.dagster_run.is_finished
                if not finished[record.run_id]:
                    pending.append(record.id)  # read it again once it completes
                continue
            fid = failure_id(key, record.partition)
            if fid not in latest or record.id > latest[fid].id:
                latest[fid] = record
    for fid, record in sorted(latest.items(), key=lambda item: item[1].id):
        evaluation = record.evaluation
        where = f"{evaluation.asset_key.to_user_string()}"
        where += f" [{record.partition}]" if record.partition else ""
        links = f"{check_url(base_url, record.key)} | run {base_url}/runs/{record.run_id}"
        if not evaluation.passed and fid not in state.failing:
            state.failing.add(fid)
            gate = "blocking" if evaluation.blocking else "non-blocking"
            severity = "ERROR" if evaluation.severity == ERROR else "WARN"
            notify(
                f"[FAILED {severity}, {gate}] check {record.key.name} on {where}: "
                f"{evaluation.description or 'no details'}\n{links}",
                failure=True,
            )
        elif evaluation.passed and fid in state.failing:
            state.failing.discard(fid)
            notify(
                f"[RECOVERED] check {record.key.name} on {where} passes again: "
                f"{evaluation.description or ''}\n{links}",
                failure=False,
            )
    state.after_execution_id = min(pending) - 1 if pending else newest


def _failed_blocking_check(instance: DagsterInstance, run_id: str) -> bool:
    """Whether a blocking check stopped this run: its check alert already says why."""
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if not evaluation.passed and evaluation.blocking and evaluation.severity == ERROR:
            return True
    return False


def _run_alerts(
    instance: DagsterInstance, state: AlertState, notify: Notifier, base_url: str
) -> None:
    result = instance.fetch_run_status_changes(
        DagsterEventType.RUN_FAILURE,
        limit=MAX_RUN_FAILURES_PER_TICK,
        cursor=state.runs_cursor,
        ascending=True,
    )
    for record in result.records:
        if _failed_blocking_check(instance, record.run_id):
            continue
        run = instance.get_run_by_id(record.run_id)
        job = run.job_name if run else "?"
        partition = run.tags.get("dagster/partition") if run else None
        where = f"{job} [{partition}]" if partition else job
        notify(
            f"[RUN FAILED] {where}: {record.event_log_entry.message or 'no details'}\n"
            f"{base_url}/runs/{record.run_id}",
            failure=True,
        )
    if result.records:
        state.runs_cursor = result.cursor


def check_keys(context: SensorEvaluationContext) -> Sequence[AssetCheckKey]:
    """Every check of the code location this sensor belongs to."""
    return sorted(context.repository_def.asset_graph.asset_check_keys, key=str)


@sensor(
    name=ALERT_SENSOR_NAME,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SETTINGS.sensor_interval_seconds,
    description="Posts each new check failure, check recovery and failed run to the webhook.",
)
def alert_sensor(context: SensorEvaluationContext, alerts: AlertsResource) -> SkipReason:
    state = AlertState.from_cursor(context.cursor)
    base_url = alerts.ui_base_url.rstrip("/")
    notify = Notifier(context, alerts.webhook_url or None)
    _check_alerts(context.instance, check_keys(context), state, notify, base_url)
    _run_alerts(context.instance, state, notify, base_url)
    context.update_cursor(state.to_cursor())
    if notify.sent == 0:
        return SkipReason(f"no new failure or recovery; {len(state.failing)} checks still failing")
    delivery = " (webhook unreachable: logged only)" if notify.webhook_down else ""
    return SkipReason(f"sent {notify.sent} alerts{delivery}; {len(state.failing)} checks failing")
