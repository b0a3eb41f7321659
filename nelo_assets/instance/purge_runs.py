"""Delete old runs that left no asset history, with their event logs: the instance's run retention.

Dagster OSS purges ticks (`retention:` in deploy/dagster.yaml) but never runs. A run that
materialized an asset or evaluated a check is kept: its events are the asset's partition status
and check history, and deleting them would make automation see missing partitions. What goes is
the rest: empty ingest runs, failed or cancelled runs that produced nothing. Run it daily (cron,
a Kubernetes CronJob or an ECS scheduled task) against the production instance:

    DAGSTER_HOME=... python -m nelo_assets.instance.purge_runs --older-than-days 90
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

import dagster as dg

BATCH = 500


def purge_runs(
    instance: dg.DagsterInstance, older_than_days: int, *, dry_run: bool = False
) -> tuple[int, int]:
    """(runs deleted, runs kept because they hold asset history), for finished runs created
    more than `older_than_days` ago."""
    history = (
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    )
    finished = [
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    ]
    before = datetime.now(UTC) - timedelta(days=older_than_days)
    deleted = kept = 0
    cursor = None
    while True:
        records = instance.get_run_records(
            dg.RunsFilter(statuses=finished, created_before=before), limit=BATCH, cursor=cursor
        )
        if not records:
            return deleted, kept
        cursor = records[-1].dagster_run.run_id
        for record in records:
            run_id = record.dagster_run.run_id
            if any(
                instance.get_records_for_run(run_id, of_type=t, limit=1).records for t in history
            ):
                kept += 1
                continue
            if not dry_run:
                instance.delete_run(run_id)
            deleted += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nelo_assets.instance.purge_runs", description=__doc__
    )
    parser.add_argument("--older-than-days", type=int, default=90)
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    args = parser.parse_args(argv)
    if args.older_than_days < 1:
        parser.error("--older-than-days must be at least 1")

    with dg.DagsterInstance.get() as instance:
        deleted, kept = purge_runs(instance, args.older_than_days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {deleted} runs older than {args.older_than_days} days; kept {kept} with asset history"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
