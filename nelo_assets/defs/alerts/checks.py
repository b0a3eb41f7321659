"""Check alerts: a failed check does not fail its run unless it blocks (dagster#29896), so the
run-failure sensor never sees most of them; this sensor reads the check executions themselves.

Each check (and partition) alerts when it starts failing and once more when it passes again.
Blocking and ERROR checks alert one by one; the changes of a non-blocking WARN check go out as
one digest per check and tick, so thirty history days failing the same soft rule are one
message, not thirty.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    DagsterInstance,
    DefaultSensorStatus,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from nelo_assets.defs.alerts.notifier import ALERT_INTERVAL_SECONDS, Notifier
from nelo_assets.defs.resources import AlertsResource

CHECK_ALERT_SENSOR_NAME = "check_alert_sensor"
PAGE_SIZE = 100  # check executions per query
DIGEST_LINES = 10  # partitions listed in a digest; the rest are counted


@dataclass
class CheckAlertState:
    """The sensor cursor: the last check execution read and the failures currently alerted.
    Small JSON: it grows only with checks failing right now."""

    after_execution_id: int = 0
    failing: set[str] = field(default_factory=set)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> "CheckAlertState":
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(data["after"], set(data["failing"]))

    def to_cursor(self) -> str:
        data = {"after": self.after_execution_id, "failing": sorted(self.failing)}
        return json.dumps(data, separators=(",", ":"))


def failure_id(key: AssetCheckKey, partition: str | None) -> str:
    return f"{key.asset_key.to_user_string()}|{key.name}|{partition or ''}"


def is_digested(evaluation: Any) -> bool:
    """A soft signal: its failures wait for the digest instead of alerting one by one."""
    return evaluation.severity == AssetCheckSeverity.WARN and not evaluation.blocking


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


def latest_completed(
    instance: DagsterInstance, keys: Sequence[AssetCheckKey], state: CheckAlertState
) -> list[Any]:
    """The newest completed execution of each check and partition since the cursor, oldest
    first; moves the cursor, holding it back at an execution whose run is still going."""
    latest: dict[str, Any] = {}
    pending: list[int] = []
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
    state.after_execution_id = min(pending) - 1 if pending else newest
    return sorted(latest.values(), key=lambda record: record.id)


def _where(record: Any) -> str:
    asset = record.evaluation.asset_key.to_user_string()
    return f"{asset} [{record.partition}]" if record.partition else asset


def _alert_one(notify: Notifier, record: Any) -> None:
    evaluation = record.evaluation
    links = f"{notify.check_url(record.key)} | run {notify.run_url(record.run_id)}"
    if evaluation.passed:
        notify(
            f"[RECOVERED] check {record.key.name} on {_where(record)} passes again: "
            f"{evaluation.description or ''}\n{links}",
            failure=False,
        )
        return
    gate = "blocking" if evaluation.blocking else "non-blocking"
    severity = "ERROR" if evaluation.severity == AssetCheckSeverity.ERROR else "WARN"
    notify(
        f"[FAILED {severity}, {gate}] check {record.key.name} on {_where(record)}: "
        f"{evaluation.description or 'no details'}\n{links}",
        failure=True,
    )


def digest_text(key: AssetCheckKey, changes: Sequence[Any], check_url: str) -> str:
    """One message for every change of one WARN check in one tick, failures first."""
    failed = [record for record in changes if not record.evaluation.passed]
    recovered = [record for record in changes if record.evaluation.passed]
    counts = [f"failing on {len(failed)}"] if failed else []
    counts += [f"recovered on {len(recovered)}"] if recovered else []
    lines = [
        f"- {record.partition or 'whole asset'}: "
        f"{'recovered' if record.evaluation.passed else 'fails'}: "
        f"{record.evaluation.description or 'no details'}"
        for record in [*failed, *recovered][:DIGEST_LINES]
    ]
    if len(changes) > DIGEST_LINES:
        lines.append(f"- and {len(changes) - DIGEST_LINES} more")
    return (
        f"[WARN DIGEST] check {key.name} on {key.asset_key.to_user_string()}: "
        f"{', '.join(counts)} (non-blocking)\n" + "\n".join(lines) + f"\n{check_url}"
    )


def check_keys(context: SensorEvaluationContext) -> Sequence[AssetCheckKey]:
    """Every check of the code location this sensor belongs to."""
    return sorted(context.repository_def.asset_graph.asset_check_keys, key=str)


@sensor(
    name=CHECK_ALERT_SENSOR_NAME,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
    description="Posts each new check failure and recovery to the webhook; a WARN check's "
    "changes as one digest per tick.",
)
def check_alert_sensor(context: SensorEvaluationContext, alerts: AlertsResource) -> SkipReason:
    state = CheckAlertState.from_cursor(context.cursor)
    notify = Notifier(context.log, alerts)
    digests: dict[AssetCheckKey, list[Any]] = defaultdict(list)
    for record in latest_completed(context.instance, check_keys(context), state):
        fid = failure_id(record.key, record.partition)
        passed = record.evaluation.passed
        if passed == (fid not in state.failing):
            continue  # still passing, or still failing: said already
        (state.failing.discard if passed else state.failing.add)(fid)
        if is_digested(record.evaluation):
            digests[record.key].append(record)
        else:
            _alert_one(notify, record)
    for key, changes in digests.items():
        failed = any(not record.evaluation.passed for record in changes)
        notify(digest_text(key, changes, notify.check_url(key)), failure=failed)
    context.update_cursor(state.to_cursor())
    if notify.sent == 0:
        return SkipReason(f"no new failure or recovery; {len(state.failing)} checks still failing")
    return SkipReason(f"{notify.summary()}; {len(state.failing)} checks failing")
