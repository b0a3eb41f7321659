"""Silver, one partition a call: bronze events validated against the contract, flattened, and
de-duplicated by event_id into silver_events and silver_items; failures go to the silver quarantine.

All of it runs as SQL in one in-memory DuckDB (sql/silver/): each event's JSON is parsed once,
never row by row in Python.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake, LakePath
from nelo_assets.storage.objects import readable_files
from nelo_assets.storage.sql_models import (
    ROW_GROUP_SIZE,
    bind_parquet,
    connect,
    load_sql,
    model_sql,
    write_parquet,
)

# Footer key of a silver_events file: the JSON list of the bronze files it was built from. An
# ingest run may add bronze files to the day while the build's checks run: the reconciliation
# compares silver with what it read, not with bronze as it is now.
BRONZE_READ_KEY = "nelo_bronze_files"


@dataclass(frozen=True)
class SilverResult:
    """Row counts of one build; bronze_rows == events + quarantined + duplicates_removed."""

    bronze_rows: int
    events: int
    items: int
    quarantined: int
    duplicates_removed: int


def bronze_files_read(lake: Lake, event_date: date) -> list[LakePath] | None:
    """The bronze files the day's silver_events was built from, as its footer names them; None
    when it names none or one of them is gone (a compaction deletes what it folded later)."""
    silver = lake.partition_file("silver_events", event_date)
    with connect(reads=silver) as con:
        if not readable_files(con, [silver]):
            return None
        rows = con.execute(
            "select value from parquet_kv_metadata(?) where decode(key) = ?",
            [str(silver), BRONZE_READ_KEY],
        ).fetchall()
        if not rows:
            return None
        folder = lake.partition_dir("bronze_events", event_date)
        named = [folder / name for name in json.loads(rows[0][0].decode())]
        return named if len(readable_files(con, named)) == len(named) else None


def build_silver_partition(lake: Lake, settings: Settings, event_date: date) -> SilverResult:
    """Rewrite silver_events, silver_items and the silver quarantine of `event_date` from bronze.

    Bronze routing has already applied the time rules with `settings` (time zone, start date),
    so every bronze row's event_timestamp and event_date are trusted here.
    """
    with tempfile.TemporaryDirectory(prefix="nelo-silver-") as scratch:
        con = connect()
        try:
            # DuckDB's own spill files go there too, so that parallel runs never share them.
            con.execute(f"set temp_directory = '{scratch}'")
            bronze_files = lake.partition_files("bronze_events", event_date)
            bind_parquet(con, "bronze_parts", "bronze_events", bronze_files)
            con.execute(f"create temp view bronze_events as {model_sql('bronze_events')}")
            con.execute(load_sql("silver", "silver_macros"))
            # Parsed once, streamed to disk: a day of parsed events does not fit memory_limit,
            # and each output reads only the columns it needs from this file. Small row groups:
            # the writer buffers a whole group, and default-sized groups of item lists spilled
            # 5 GB on a 1M-event day.
            checked = Path(scratch) / "silver_checked.parquet"
            con.execute(
                f"copy ({load_sql('silver', 'silver_checked')}) to '{checked}' "
                f"(format parquet, row_group_size {ROW_GROUP_SIZE})"
            )
            con.execute(f"create temp view silver_checked as from read_parquet('{checked}')")
            con.execute(f"create temp table silver_kept as {load_sql('silver', 'silver_kept')}")
            events = write_parquet(
                con,
                "silver_events",
                model_sql("silver_events"),
                lake.partition_file("silver_events", event_date),
                footer={BRONZE_READ_KEY: json.dumps([f.name for f in bronze_files])},
            )
            items = write_parquet(
                con,
                "silver_items",
                model_sql("silver_items"),
                lake.partition_file("silver_items", event_date),
            )
            quarantined = write_parquet(
                con,
                "quarantine",
                load_sql("silver", "silver_quarantine"),
                lake.silver_quarantine_file(event_date),
            )
            bronze_rows, valid = con.execute(
                "select count(*), count(*) filter (where reason is null) from silver_checked"
            ).fetchone()
        finally:
            con.close()
    return SilverResult(
        bronze_rows=bronze_rows,
        events=events,
        items=items,
        quarantined=quarantined,
        duplicates_removed=valid - events,
    )
