"""The bronze read model keeps one row per (message_id, batch_index) however often it is stored."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb

from nelo_assets.ingestion.bronze import read_bronze
from nelo_assets.serving.analytics import publish_views
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.rows import write_rows

DAY = date(2026, 3, 1)


def _write_batch(lake: Lake, name: str, rows: list[tuple[str, int, str]]) -> Path:
    """Bronze rows (message_id, batch_index, received_at) of one landing batch `name`."""
    path = lake.partition_dir("bronze_events", DAY) / f"{name}.parquet"
    return write_rows(
        path,
        "bronze_events",
        [
            {
                "message_id": message_id,
                "batch_index": batch_index,
                "received_at": received_at,
                "receive_count": 1,
                "event_date": DAY,
                "raw": "{}",
                "event_timestamp": f"{DAY} 12:00:00+00",
                "landing_batch": name,
            }
            for message_id, batch_index, received_at in rows
        ],
    )


def test_the_same_stored_row_in_two_files_counts_once(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    path = _write_batch(lake, "b1", [("m1", 0, "2026-03-01 12:00:01+00")])
    # A compaction that crashed before removing the batch file leaves an identical copy.
    shutil.copy(path, path.with_name("compacted.parquet"))
    assert read_bronze(lake, [DAY]).height == 1


def test_the_same_message_twice_in_one_file_counts_once(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    _write_batch(
        lake, "b1", [("m1", 0, "2026-03-01 12:00:01+00"), ("m1", 0, "2026-03-01 12:00:01+00")]
    )
    assert read_bronze(lake, [DAY]).height == 1


def test_a_redelivery_keeps_the_earliest_receipt_in_the_published_view(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    _write_batch(
        lake, "b2", [("m1", 0, "2026-03-01 12:05:00+00"), ("m2", 0, "2026-03-01 12:05:00+00")]
    )
    _write_batch(lake, "b1", [("m1", 0, "2026-03-01 12:00:01+00")])
    publish_views(lake)
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as con:
        rows = con.execute(
            "select message_id, landing_batch from bronze_events order by 1"
        ).fetchall()
        columns = [r[0] for r in con.execute("describe bronze_events").fetchall()]
    assert rows == [("m1", "b1"), ("m2", "b2")]
    assert "filename" not in columns and "file_row_number" not in columns
