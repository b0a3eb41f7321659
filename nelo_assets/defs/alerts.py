"""The alert sensors: alert_sensor sends one message per new check failure or failed run (a run
whose worker died says RUN DEAD) and one when a check recovers; pipeline_health_sensor one per
stalled queue, dead letters or stale mart, and one when it recovers.

Open-source Dagster sends no alerts, and a WARN or non-blocking check failure leaves its run
successful (dagster#29896), so a run-failure sensor alone would miss them: this sensor reads the
check executions themselves. Each tick only reads the instance (indexed queries from a cursor)
and posts Slack-compatible JSON to NELO_ALERT_WEBHOOK_URL; every alert is also logged, and a
webhook that is down, slow or failing never breaks the tick (R5).
"""

import http.client
import json
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from nelo_assets.defs.jobs import INGEST_JOB_NAME, RUNS_IN_FLIGHT
from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.defs.resources import AlertsResource, SQSResource
from nelo_assets.ingestion.queue_health import dead_letter_count, dead_letter_url
from nelo_assets.ingestion.sqs import QUEUE_ERRORS, QueueError, describe_error, queue_counts
from nelo_assets.instance.run_launcher import DEAD_WORKER

ALERT_SENSOR_NAME = "alert_sensor"
ERROR = AssetCheckSeverity.ERROR
WEBHOOK_TIMEOUT_SECONDS = 2.0
PAGE_SIZE = 100  # check executions per query
MAX_RUN_FAILURES_PER_TICK = 50  # the rest wait for the next tick, keeping ticks short
BRONZE_KEY = AssetKey("bronze_events")

ALERT_INTERVAL_SECONDS = SETTINGS.alert_interval_seconds


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
        message = record.event_log_entry.message or "no details"
        # Failed by run monitoring because its worker died (instance/run_launcher.py): a crash.
        label = "RUN DEAD" if DEAD_WORKER in message else "RUN FAILED"
        notify(
            f"[{label}] {where}: {message}\n{base_url}/runs/{record.run_id}",
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
    minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
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


# --- Pipeline health: what cannot heal by itself (R10) raises one alert, and one recovery. ----

HEALTH_SENSOR_NAME = "pipeline_health_sensor"
STALL = "stall"
DEAD_LETTERS = "dead_letters"
STALE_MART = "stale_mart"  # incident ids: stale_mart|<asset>|<partition>


@dataclass
class HealthState:
    """The health sensor cursor: the open incidents (id -> when opened), since when the
    backlog has been there, and the dead-letter queue URL (looked up once)."""

    open: dict[str, float] = field(default_factory=dict)
    backlog_since: float | None = None
    dlq_url: str | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "HealthState":
        data = json.loads(cursor) if cursor else {}
        return cls(data.get("open", {}), data.get("backlog_since"), data.get("dlq"))

    def to_cursor(self) -> str:
        data = {"open": self.open, "backlog_since": self.backlog_since, "dlq": self.dlq_url}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _incident(
    state: HealthState,
    notify: Notifier,
    key: str,
    active: bool,
    now: float,
    opened: str,
    closed: str,
) -> None:
    """Alert when an incident starts, and once more when it ends; nothing in between."""
    if active and key not in state.open:
        state.open[key] = now
        notify(opened, failure=True)
    elif not active and key in state.open:
        del state.open[key]
        notify(closed, failure=False)


def _last_ingest_success(instance: DagsterInstance) -> float | None:
    records = instance.get_run_records(
        RunsFilter(job_name=INGEST_JOB_NAME, statuses=[DagsterRunStatus.SUCCESS]), limit=1
    )
    return records[0].end_time if records else None


def _queue_alerts(
    context: SensorEvaluationContext,
    sqs: SQSResource,
    alerts: AlertsResource,
    state: HealthState,
    notify: Notifier,
    now: float,
) -> None:
    client = sqs.get_client(quick=True)
    waiting, hidden = queue_counts(client, sqs.queue_url)
    in_flight = context.instance.get_run_records(
        RunsFilter(job_name=INGEST_JOB_NAME, statuses=RUNS_IN_FLIGHT), limit=1
    )
    # Messages hidden with no ingest run in flight are held by a dead worker and come back
    # by themselves within the visibility timeout: not a backlog yet.
    backlog = waiting > 0 or bool(in_flight)
    state.backlog_since = (state.backlog_since or now) if backlog else None
    last_success = _last_ingest_success(context.instance)
    quiet_since = max(last_success or 0.0, state.backlog_since or now)
    stalled = backlog and now - quiet_since > alerts.stall_seconds
    if STALL in state.open and last_success and last_success > state.open[STALL]:
        stalled = False  # an ingest run succeeded since the alert: ingestion moves again
    _incident(
        state,
        notify,
        STALL,
        stalled,
        now,
        f"[STALLED] ingestion: {waiting} messages waiting ({hidden} in flight) on "
        f"{sqs.queue_url} and no ingest run "
        f"has succeeded for {(now - quiet_since) / 60:.0f} min "
        f"(NELO_ALERT_STALL_SECONDS={alerts.stall_seconds})",
        f"[RECOVERED] ingestion: an ingest run succeeded; {waiting} messages waiting",
    )
    if state.dlq_url is None:
        state.dlq_url = dead_letter_url(client, sqs.queue_url) or ""
    if state.dlq_url:
        dead = dead_letter_count(client, state.dlq_url)
        _incident(
            state,
            notify,
            DEAD_LETTERS,
            dead > 0,
            now,
            f"[DEAD LETTERS] {dead} messages in the dead-letter queue {state.dlq_url}: they "
            "failed too often to be ingested; inspect them and redrive or delete them",
            f"[RECOVERED] the dead-letter queue {state.dlq_url} is empty again",
        )


def _latest(instance: DagsterInstance, key: AssetKey, partition: str, after: int | None) -> Any:
    """The first materialization of a partition after storage id `after`, else the latest."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition], after_storage_id=after),
        limit=1,
        ascending=after is not None,
    ).records
    return records[0] if records else None


def _latest_by_day(instance: DagsterInstance, key: AssetKey) -> dict[str, int]:
    """The storage id of each partition's latest materialization: one query, any number of days."""
    return instance.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION)


def _mart_alerts(
    context: SensorEvaluationContext,
    alerts: AlertsResource,
    state: HealthState,
    notify: Notifier,
    now: float,
    base_url: str,
) -> None:
    """A mart partition is stale when bronze of its day changed longer than the lag ago and the
    mart has not been rebuilt since (automation would have done it within minutes). Any day
    counts, late events' old days too: a day is looked at when its bronze is newer than one of
    its marts, or while its incident is open (so that it can recover)."""
    instance = context.instance
    marts = sorted(
        key
        for key in context.repository_def.asset_graph.materializable_asset_keys
        if key.to_user_string().startswith("mart_")
    )
    bronze = _latest_by_day(instance, BRONZE_KEY)
    open_days = {key.rsplit("|", 1)[1] for key in state.open if key.startswith(f"{STALE_MART}|")}
    for mart in marts:
        built_ids = _latest_by_day(instance, mart)
        behind = {day for day, bronze_id in bronze.items() if bronze_id > built_ids.get(day, 0)}
        for day in sorted(behind | open_days):
            built = _latest(instance, mart, day, None)
            changed = _latest(instance, BRONZE_KEY, day, built.storage_id if built else 0)
            lag = now - changed.timestamp if changed and day in behind else 0.0
            where = f"{mart.to_user_string()} [{day}]"
            _incident(
                state,
                notify,
                f"{STALE_MART}|{mart.to_user_string()}|{day}",
                lag > alerts.mart_lag_seconds,
                now,
                f"[STALE] {where}: bronze of that day changed {lag / 60:.0f} min ago and the mart "
                f"was not rebuilt since (NELO_ALERT_MART_LAG_SECONDS={alerts.mart_lag_seconds})"
                f"\n{base_url}/assets/{quote(mart.to_user_string())}",
                f"[RECOVERED] {where} is up to date again",
            )


@sensor(
    name=HEALTH_SENSOR_NAME,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
    description="Posts a stalled queue, dead letters and stale marts to the webhook, and their "
    "recovery.",
)
def pipeline_health_sensor(
    context: SensorEvaluationContext, alerts: AlertsResource, sqs: SQSResource
) -> SkipReason:
    """Separate from alert_sensor so a slow or unreachable queue never delays check alerts."""
    state = HealthState.from_cursor(context.cursor)
    base_url = alerts.ui_base_url.rstrip("/")
    notify = Notifier(context, alerts.webhook_url or None)
    now = time.time()
    queue_error = ""
    try:
        _queue_alerts(context, sqs, alerts, state, notify, now)
    except (QueueError, *QUEUE_ERRORS) as exc:
        queue_error = f"; queue not read: {describe_error(exc)}"  # the sqs sensor fails loudly
    _mart_alerts(context, alerts, state, notify, now, base_url)
    context.update_cursor(state.to_cursor())
    incidents = ", ".join(sorted(state.open)) or "none"
    return SkipReason(f"sent {notify.sent} alerts; open incidents: {incidents}{queue_error}")
