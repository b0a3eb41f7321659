"""Reading the Dagster instance of the run under test, and waiting for the history to settle."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench.freshness.plan import (
    IN_FLIGHT,
    MARTS,
    Built,
    Plan,
)
from bench.freshness.stack import System
from nelo_assets.ingestion.sqs import queue_counts


class Instance:
    """The read-only questions the bench asks the Dagster instance of the run under test."""

    def __init__(self) -> None:
        # Imported here: bench.run imports this module, and Dagster loads only when it runs.
        from dagster import DagsterInstance

        self.instance = DagsterInstance.get()

    def runs(self) -> list[dict[str, Any]]:
        return [
            {
                "run_id": record.dagster_run.run_id,
                "job": record.dagster_run.job_name,
                "status": record.dagster_run.status.value,
                "created": record.create_timestamp.timestamp(),
                "started": record.start_time,
                "ended": record.end_time,
                "partition": record.dagster_run.tags.get("dagster/partition"),
            }
            for record in self.instance.get_run_records()
        ]

    def materializations(
        self, asset: str, partitions: Sequence[str] | None = None
    ) -> dict[str | None, list[Built]]:
        """Every materialization of `asset` (of `partitions` if given), per partition, oldest
        first."""
        from dagster import AssetKey, AssetRecordsFilter

        found: dict[str | None, list[Built]] = defaultdict(list)
        records_filter = AssetRecordsFilter(
            asset_key=AssetKey(asset), asset_partitions=list(partitions) if partitions else None
        )
        cursor = None
        while True:
            result = self.instance.fetch_materializations(
                records_filter, limit=1000, cursor=cursor, ascending=True
            )
            for record in result.records:
                found[record.partition_key].append((record.timestamp, record.run_id))
            if not result.has_more:
                return found
            cursor = result.cursor


def _settled(instance: Instance, sqs: Any, queue_url: str, quiet_s: float) -> bool:
    """Queue empty, no run in flight or created for `quiet_s`, and both marts of every day with
    bronze built after its last bronze announcement."""
    if queue_counts(sqs, queue_url) != (0, 0):
        return False
    runs = instance.runs()
    if any(run["status"] in IN_FLIGHT for run in runs):
        return False
    if runs and max(run["created"] for run in runs) > time.time() - quiet_s:
        return False
    bronze = instance.materializations("bronze_events")
    if not bronze:
        return False
    for mart in MARTS:
        built = instance.materializations(mart)
        for partition, announced in bronze.items():
            if not built.get(partition) or built[partition][-1][0] < announced[-1][0]:
                return False
    return True


def settle(instance: Instance, system: System, plan: Plan) -> tuple[bool | None, float | None]:
    """Wait for the history to reach the marts; (settled, seconds), or (None, None) without."""
    if not plan.history_days:
        return None, None
    began = time.monotonic()
    # A run may follow a finished one a few ticks later: the dimensions wait for every day's
    # facts, then for the next automation tick.
    quiet = min(3 * system.settings.sensor_interval_seconds + 5, 45)
    while time.monotonic() - began < plan.settle_deadline_s:
        if _settled(instance, system.sqs, system.queue_url, quiet):
            return True, time.monotonic() - began
        time.sleep(1)
    return False, time.monotonic() - began


def wait_for_other_days(instance: Instance, today: str, deadline_s: float) -> float:
    """Wait (at most `deadline_s`) until no run of a day other than `today` is in flight: a
    round's late probes rebuild their day, then the days whose lookback reads it, and those
    runs would hold the next round's live probes back. The seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < deadline_s:
        if not any(
            run["status"] in IN_FLIGHT and run["partition"] not in (None, today)
            for run in instance.runs()
        ):
            break
        time.sleep(1)
    return time.monotonic() - began
