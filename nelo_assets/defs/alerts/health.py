"""Pipeline health: what cannot heal by itself (R10) raises one alert when it starts and one
when it ends, nothing in between: ingestion stalled with work waiting, messages in the
dead-letter queue, an asset failing its freshness policy, a mart partition left behind its
bronze day.

Dagster evaluates freshness policies itself (its freshness daemon) but open-source Dagster
sends no alert, so this sensor only delivers its verdict. Its freshness is per asset, not per
partition: the stale-mart alert for one late day stays ours, as do the queue alerts."""

import json
import time
from dataclasses import dataclass, field
from typing import Any

from dagster import (
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

from nelo_assets.defs.alerts.notifier import ALERT_INTERVAL_SECONDS, Notifier
from nelo_assets.defs.jobs import INGEST_JOB_NAME, RUNS_IN_FLIGHT
from nelo_assets.defs.resources import AlertsResource, SQSResource
from nelo_assets.ingestion.queue_health import dead_letter_count, dead_letter_url
from nelo_assets.ingestion.sqs import QUEUE_ERRORS, QueueError, describe_error, queue_counts

BRONZE_KEY = AssetKey("bronze_events")

HEALTH_SENSOR_NAME = "pipeline_health_sensor"
STALL = "stall"
DEAD_LETTERS = "dead_letters"
STALE_MART = "stale_mart"  # incident ids: stale_mart|<asset>|<partition>
NOT_FRESH = "not_fresh"  # incident ids: not_fresh|<asset>


@dataclass
class HealthState:
    """The health sensor cursor: the open incidents (id -> when opened), the last tick that saw
    nothing to ingest, and the dead-letter queue URL (looked up once)."""

    open: dict[str, float] = field(default_factory=dict)
    idle_at: float | None = None
    dlq_url: str | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "HealthState":
        data = json.loads(cursor) if cursor else {}
        return cls(data.get("open", {}), data.get("idle_at"), data.get("dlq"))

    def to_cursor(self) -> str:
        data = {"open": self.open, "idle_at": self.idle_at, "dlq": self.dlq_url}
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


def stall_clock_start(
    state: HealthState, backlog: bool, last_success: float | None, now: float
) -> float:
    """When the stall clock started: at the last successful ingest, or at a later tick that saw
    nothing to ingest (an idle queue is not a stall). With neither known (no ingest ever
    succeeded, first tick), at this tick."""
    if not backlog or (state.idle_at is None and last_success is None):
        state.idle_at = now
    return max(last_success or 0.0, state.idle_at or 0.0)


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
    last_success = _last_ingest_success(context.instance)
    quiet_since = stall_clock_start(state, backlog, last_success, now)
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
        "[RECOVERED] ingestion: moving again (an ingest run succeeded, or nothing waits); "
        f"{waiting} messages waiting",
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


def _freshness_alerts(
    context: SensorEvaluationContext, state: HealthState, notify: Notifier, now: float
) -> None:
    """An asset whose FreshnessPolicy fails, as Dagster's freshness daemon last evaluated it."""
    graph = context.repository_def.asset_graph
    policies = {
        key: graph.get(key).freshness_policy
        for key in graph.get_all_asset_keys()
        if graph.get(key).freshness_policy
    }
    verdicts = context.instance.get_freshness_state_records(list(policies))
    for key, policy in sorted(policies.items()):
        verdict = verdicts.get(key)
        window = getattr(policy, "fail_window", None)
        within = f" within {window.to_timedelta()}" if window else ""
        _incident(
            state,
            notify,
            f"{NOT_FRESH}|{key.to_user_string()}",
            verdict is not None and verdict.freshness_state.value == "FAIL",
            now,
            f"[NOT FRESH] {key.to_user_string()}: not updated{within}, so its freshness "
            f"policy fails\n{notify.asset_url(key)}",
            f"[RECOVERED] {key.to_user_string()} is fresh again",
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
                f"\n{notify.asset_url(mart)}",
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
    """Separate from the check alerts so a slow or unreachable queue never delays them."""
    state = HealthState.from_cursor(context.cursor)
    notify = Notifier(context.log, alerts)
    now = time.time()
    queue_error = ""
    try:
        _queue_alerts(context, sqs, alerts, state, notify, now)
    except (QueueError, *QUEUE_ERRORS) as exc:
        queue_error = f"; queue not read: {describe_error(exc)}"  # the sqs sensor fails loudly
    _freshness_alerts(context, state, notify, now)
    _mart_alerts(context, alerts, state, notify, now)
    context.update_cursor(state.to_cursor())
    incidents = ", ".join(sorted(state.open)) or "none"
    return SkipReason(f"{notify.summary()}; open incidents: {incidents}{queue_error}")
