"""What every asset module shares: owners, kinds, backfill policy, the partition date of a run."""

from datetime import date

from dagster import AssetExecutionContext, BackfillPolicy

OWNERS = ["team:data-platform"]
KINDS = {"duckdb", "parquet"}

# One partition per run: row counts in the UI are exact per partition, a failed day retries
# alone, and the daemon runs many days at once within the run queue limit (R6).
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=1)


def partition_date(context: AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)
