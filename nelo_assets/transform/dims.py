"""Gold dimensions dim_items (SCD2) and dim_users, rebuilt as a whole from every fact partition."""

from __future__ import annotations

from pathlib import Path

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import bind_parquet, connect, load_sql, write_parquet


def partition_files(lake: Lake, table: str) -> list[Path]:
    """Every partition file of a daily table; atomic writes' temporary names never match."""
    return sorted(lake.table_dir(table).glob("event_date=*/*.parquet"))


def dim_file(lake: Lake, table: str) -> Path:
    return lake.table_dir(table) / "part.parquet"


def _build_dim(lake: Lake, table: str, inputs: tuple[str, ...]) -> int:
    with connect() as con:
        for fact in inputs:
            bind_parquet(con, fact, fact, partition_files(lake, fact))
        return write_parquet(con, table, load_sql("gold", table), dim_file(lake, table))


def build_dim_items(lake: Lake, settings: Settings) -> int:
    """Rewrite dim_items from all fact_event_items partitions; return its row count."""
    return _build_dim(lake, "dim_items", ("fact_event_items",))


def build_dim_users(lake: Lake, settings: Settings) -> int:
    """Rewrite dim_users from all fact_events and fact_event_items partitions; return its rows."""
    return _build_dim(lake, "dim_users", ("fact_events", "fact_event_items"))
