"""Gold dimensions dim_items (SCD2) and dim_users, rebuilt as a whole from every fact partition."""

from __future__ import annotations

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import bind_parquet, connect, model_sql, write_parquet


def _build_dim(lake: Lake, table: str, inputs: tuple[str, ...]) -> int:
    with connect() as con:
        for fact in inputs:
            bind_parquet(con, fact, fact, lake.all_partition_files(fact))
        return write_parquet(con, table, model_sql(table), lake.table_file(table))


def build_dim_items(lake: Lake, settings: Settings) -> int:
    """Rewrite dim_items from all fact_event_items partitions; return its row count."""
    return _build_dim(lake, "dim_items", ("fact_event_items",))


def build_dim_users(lake: Lake, settings: Settings) -> int:
    """Rewrite dim_users from all fact_events and fact_event_items partitions; return its rows."""
    return _build_dim(lake, "dim_users", ("fact_events", "fact_event_items"))
