"""What every asset shares: its decorator arguments, set from the table registry in one place, and
the days of a run (one partition, or a range of them in a backfill chunk)."""

from datetime import date
from typing import Any

from dagster import AssetCheckExecutionContext, AssetExecutionContext, BackfillPolicy

from nelo_assets.defs.automation import follow_upstream
from nelo_assets.defs.metadata import code_references, table_schema
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.storage.tables import TABLES

OWNERS = ["team:data-platform"]
KINDS = {"duckdb", "parquet"}

# A backfill runs chunks of this many days, each in one run that builds every day of its range
# (docs/decisions.md §16: why this size, what a failed chunk does, what the UI shows per day).
BACKFILL_CHUNK_DAYS = 30
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=BACKFILL_CHUNK_DAYS)


def partitioning(*tables: str) -> dict[str, Any]:
    """The daily partitions and backfill policy of an op that writes `tables` by event_date;
    nothing for one that rewrites whole tables."""
    if any(TABLES[table].partitioned for table in tables):
        return {"partitions_def": daily_partitions, "backfill_policy": BACKFILL_POLICY}
    return {}


def spec_kwargs(group: str, *tables: str, automated: bool = True) -> dict[str, Any]:
    """What the asset in `group` that publishes `tables` (its stored table, then any view over
    it) shares with every other asset: kinds, owners, links to the tables' SQL models, the
    columns of the table published under its name (the last), each with its meaning, and
    automation that follows upstream unless `automated` is False. A multi_asset adds
    `partitioning` once for all its specs."""
    kwargs: dict[str, Any] = {
        "group_name": group,
        "kinds": KINDS,
        "owners": OWNERS,
        "metadata": {
            "dagster/code_references": code_references(*tables),
            "dagster/column_schema": table_schema(tables[-1]),
        },
    }
    if automated:
        kwargs["automation_condition"] = follow_upstream()
    return kwargs


def asset_kwargs(group: str, *tables: str, automated: bool = True) -> dict[str, Any]:
    """The @asset arguments of such an asset: `spec_kwargs` and `partitioning`."""
    return {**spec_kwargs(group, *tables, automated=automated), **partitioning(*tables)}


def partition_dates(context: AssetExecutionContext | AssetCheckExecutionContext) -> list[date]:
    """Every day the run covers, oldest first: a day's sessions and attribution read the days
    before it, so those are built first."""
    return sorted(date.fromisoformat(key) for key in context.partition_keys)
