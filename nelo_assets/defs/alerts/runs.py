"""Run alerts through Dagster's own run-failure sensor (its cursor, its once per failed run): a
run whose worker died says RUN DEAD, and a run a blocking check stopped sends nothing here,
since its check alert already says why."""

from dagster import (
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    RunFailureSensorContext,
    run_failure_sensor,
)

from nelo_assets.defs.alerts.notifier import ALERT_INTERVAL_SECONDS, Notifier
from nelo_assets.defs.resources import AlertsResource
from nelo_assets.instance.run_launcher import DEAD_WORKER

RUN_ALERT_SENSOR_NAME = "run_alert_sensor"


def stopped_by_blocking_check(instance: DagsterInstance, run_id: str) -> bool:
    records = instance.get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if (
            not evaluation.passed
            and evaluation.blocking
            and evaluation.severity == AssetCheckSeverity.ERROR
        ):
            return True
    return False


@run_failure_sensor(
    name=RUN_ALERT_SENSOR_NAME,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=ALERT_INTERVAL_SECONDS,
    description="Posts each failed run to the webhook (RUN DEAD when its worker died).",
)
def run_alert_sensor(context: RunFailureSensorContext, alerts: AlertsResource) -> None:
    run = context.dagster_run
    if stopped_by_blocking_check(context.instance, run.run_id):
        return
    notify = Notifier(context.log, alerts)
    partition = run.tags.get("dagster/partition")
    where = f"{run.job_name} [{partition}]" if partition else run.job_name
    message = context.failure_event.message or "no details"
    # Failed by run monitoring because its worker died (instance/run_launcher.py): a crash.
    label = "RUN DEAD" if DEAD_WORKER in message else "RUN FAILED"
    notify(f"[{label}] {where}: {message}\n{notify.run_url(run.run_id)}", failure=True)
