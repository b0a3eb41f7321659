"""The lake on S3 (moto's server) and on disk through the same code: a write that fails part-way
leaves the previous version readable, the landing archive is byte-exact and uploaded before any
message is deleted, and analytics.duckdb answers every published table for a reader."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from nelo_assets.ingestion import drain
from nelo_assets.ingestion.landing import LandedMessage, landing_file_path, write_landing_file
from nelo_assets.serving.analytics import publish_views
from nelo_assets.serving.reader import connect_analytics
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage import objects
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.objects import ObjectPath
from nelo_assets.storage.sql_models import bind_parquet, connect, write_parquet
from nelo_assets.storage.tables import STORED_TABLES, VIEWS
from nelo_assets.transform.pipeline import build_everything
from nelo_assets_tests.environment import BOTH_LAKES, settings_for
from nelo_assets_tests.queue_lake import QueueLake
from nelo_assets_tests.traffic import traffic

DAY = date(2026, 3, 1)
# Rows of a partition file: the second version fails on its last row, after the writer has
# written row groups of it (16,384 rows each).
ROWS = 50_000
VERSION = """
    select 'k' || i as user_sk, 'u' || i as user_id, null as first_seen_at,
        null as last_seen_at, null as first_platform, null as last_platform,
        {version} as total_sessions, i as total_events, 0 as total_purchases, 0 as total_revenue
    from range({rows}) t(i)
"""


def _lake(tmp_path: Path, lake_url: str | None) -> Lake:
    return Lake.from_settings(settings_for(tmp_path / "data", lake_url=lake_url))


def _read(lake: Lake, path: object) -> list[tuple]:
    with connect() as con:
        bind_parquet(con, "t", "dim_users", [path])
        return con.execute(
            "select count(*), min(total_sessions), max(total_sessions) from t"
        ).fetchall()


def _write_version(lake: Lake, version: str) -> int:
    with connect() as con:
        return write_parquet(
            con,
            "dim_users",
            VERSION.format(version=version, rows=ROWS),
            lake.table_file("dim_users"),
        )


@BOTH_LAKES
def test_a_write_that_fails_part_way_leaves_the_previous_version(
    tmp_path: Path, lake_url: str | None
) -> None:
    lake = _lake(tmp_path, lake_url)
    assert _write_version(lake, "1") == ROWS
    before = lake.table_file("dim_users").read_bytes()

    failing = f"case when i = {ROWS - 1} then error('disk gone') else 2 end"
    with pytest.raises(duckdb.Error, match="disk gone"):
        _write_version(lake, failing)

    assert lake.table_file("dim_users").read_bytes() == before
    assert _read(lake, lake.table_file("dim_users")) == [(ROWS, 1, 1)]
    # Nothing else was published: no temporary file or object beside the table's one.
    assert [p.name for p in lake.table_dir("dim_users").iterdir()] == ["part.parquet"]


def test_an_upload_that_fails_leaves_the_previous_object(
    tmp_path: Path, s3_lake_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = _lake(tmp_path, s3_lake_url)
    _write_version(lake, "1")
    before = lake.table_file("dim_users").read_bytes()

    def connection_reset(local: Path, target: ObjectPath) -> None:
        assert local.stat().st_size > 0  # the file was whole; the network failed
        raise ConnectionResetError("connection reset by peer during PUT")

    monkeypatch.setattr(objects, "upload", connection_reset)
    with pytest.raises(ConnectionResetError):
        _write_version(lake, "2")

    assert lake.table_file("dim_users").read_bytes() == before
    assert _read(lake, lake.table_file("dim_users")) == [(ROWS, 1, 1)]


def test_landing_files_on_s3_are_byte_exact(tmp_path: Path, s3_lake_url: str) -> None:
    received = datetime(2026, 3, 1, 12, tzinfo=UTC)
    messages = [
        LandedMessage("m1", received, 1, b'{"event_name": "view_item"}'),
        LandedMessage("m2", received, 2, b"\xff\xfe not utf-8"),
    ]
    local = write_landing_file(tmp_path / "landing", "batch-1", messages, DAY)
    remote = write_landing_file(_lake(tmp_path, s3_lake_url).landing_dir, "batch-1", messages, DAY)

    assert remote == landing_file_path(_lake(tmp_path, s3_lake_url).landing_dir, DAY, "batch-1")
    assert remote.read_bytes() == local.read_bytes()


@pytest.mark.parametrize("lake_url", ["s3"], indirect=True)
def test_no_message_is_deleted_before_its_batch_is_on_s3(
    queue_lake: QueueLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_lake_s3 = queue_lake
    now = datetime.now(UTC)
    sent = traffic(20, [now.date()], now)
    queue_lake_s3.send([s.body for s in sent])

    def unreachable(local: Path, target: ObjectPath) -> None:
        raise ConnectionResetError("S3 unreachable")

    monkeypatch.setattr(objects, "upload", unreachable)
    with pytest.raises(ConnectionResetError):
        drain.drain_queue(
            queue_lake_s3.client,
            queue_lake_s3.queue_url,
            queue_lake_s3.lake,
            queue_lake_s3.settings,
            max_messages=100,
            max_seconds=20,
            receivers=1,
            wait_seconds=0,
        )

    assert sum(queue_lake_s3.counts()) == len(sent)  # every message still in SQS
    assert not list(queue_lake_s3.lake.landing_dir.iterdir())


def test_analytics_duckdb_answers_every_table_of_a_lake_on_s3(
    tmp_path: Path, s3_lake_url: str
) -> None:
    settings = settings_for(tmp_path / "data", lake_url=s3_lake_url)
    lake = Lake.from_settings(settings)
    write_archive(
        SimulationConfig(start=DAY, days=2, events_per_day=80, users=10), lake.landing_dir
    )
    build_everything(lake, settings, [DAY, date(2026, 3, 2)])
    assert publish_views(lake), "a new lake has no views yet"

    assert lake.duckdb_path == tmp_path / "data" / "analytics.duckdb"  # a local file
    assert not publish_views(lake), "the views are up to date"
    with connect_analytics(lake.duckdb_path) as con:
        # As docs/deploy.md shows it: con.sql straight after connecting.
        marts = con.sql("select count(*) from mart_item_list_daily").fetchall()[0][0]
        counts = {
            t.name: con.execute(f"select count(*) from {t.name}").fetchone()[0]
            for t in [*STORED_TABLES, *VIEWS]
        }
    assert counts["fact_events"] > 0 and counts["mart_item_list_daily"] == marts > 0, counts
    # Without the reader's setup, plain DuckDB (no httpfs here) cannot read the lake.
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as con, pytest.raises(duckdb.Error):
        con.execute("select count(*) from fact_events").fetchall()
