"""Compaction of a bronze day: the same stored rows and read model after it; a compaction killed
at any point leaves the old files or the new one counted, never both; a reader that listed the
old files still reads them; and late events written alongside it are neither lost nor counted
twice (R6). On both lakes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from dagster import DagsterInstance

from nelo_assets.defs.jobs import ingest_job
from nelo_assets.defs.resources import LakeResource
from nelo_assets.ingestion.bronze import BRONZE, read_bronze, route_messages
from nelo_assets.ingestion.compaction import compact_partition, compact_settled_days
from nelo_assets.ingestion.drain import PAUSE_ENV
from nelo_assets.ingestion.landing import LandedMessage
from nelo_assets.settings import Settings
from nelo_assets.storage import compaction
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import ROW_IDENTITY, bind_parquet, connect
from nelo_assets_tests.environment import BOTH_LAKES, REPO, settings_for
from nelo_assets_tests.queue_lake import QueueLake
from nelo_assets_tests.traffic import traffic

DAY = date(2026, 3, 1)
# Two days after DAY: DAY has settled, and no grace has passed since a compaction made now.
NOW = datetime(2026, 3, 3, 12, tzinfo=UTC)
LATER = NOW + timedelta(minutes=11)  # the grace of a compaction made NOW is over


def _setup(tmp_path, lake_url: str | None) -> tuple[Lake, Settings]:
    settings = settings_for(tmp_path / "data", start_date=date(2026, 1, 1), lake_url=lake_url)
    return Lake.from_settings(settings), settings


def _route(lake: Lake, settings: Settings, batch: int, count: int = 12, day: date = DAY) -> int:
    """One landing batch of `day`'s traffic; a retried body makes duplicate messages."""
    received = datetime(day.year, day.month, day.day, 12, batch % 60, tzinfo=UTC)
    messages = [
        LandedMessage(f"m{batch}-{i}", received, 1, s.body.encode())
        for i, s in enumerate(traffic(count, [day], received))
    ]
    # A redelivered message lands again in a later batch: bronze stores it twice.
    messages.append(LandedMessage(f"m{max(batch - 1, 0)}-0", received, 2, messages[0].body))
    return route_messages(lake, settings, f"b{batch:04d}", received.date(), messages).events


def _stored(lake: Lake, day: date = DAY) -> list[tuple]:
    """Every stored row the readers count (duplicates included), in a fixed order."""
    with connect(reads=lake.root) as con:
        bind_parquet(con, "t", BRONZE, lake.partition_files(BRONZE, day))
        return con.execute(f"select * exclude ({ROW_IDENTITY}) from t order by all").fetchall()


def _names(lake: Lake) -> list[str]:
    return [p.name for p in lake.partition_files(BRONZE, DAY)]


@BOTH_LAKES
def test_a_compacted_day_holds_the_same_rows_and_then_one_file(
    tmp_path, lake_url: str | None
) -> None:
    lake, settings = _setup(tmp_path, lake_url)
    for batch in range(4):
        _route(lake, settings, batch)
    stored, model = _stored(lake), read_bronze(lake, [DAY]).sort("message_id", "batch_index")

    [done] = compact_settled_days(lake, settings, NOW)

    assert (done.event_date, done.folded, done.rows) == (DAY, 4, len(stored))
    assert _stored(lake) == stored  # same rows, same values, duplicates kept
    assert read_bronze(lake, [DAY]).sort("message_id", "batch_index").equals(model)
    assert len(_names(lake)) == 5  # the folded files stay readable for the grace period
    with connect(reads=lake.root) as con:
        assert bind_parquet(con, "t", BRONZE, lake.partition_files(BRONZE, DAY)) == 1

    assert compact_partition(lake, DAY, LATER).deleted == 4
    [left] = _names(lake)
    assert left.startswith(compaction.PREFIX)
    assert _stored(lake) == stored


@BOTH_LAKES
@pytest.mark.parametrize(
    "stage", ["compaction_listed", "compaction_published", "compaction_deleting"]
)
def test_a_compaction_killed_halfway_leaves_the_old_files_or_the_new_one(
    tmp_path, lake_url: str | None, stage: str
) -> None:
    lake, settings = _setup(tmp_path, lake_url)
    for batch in range(3):
        _route(lake, settings, batch)
    if stage == "compaction_deleting":  # a compaction whose folded files are due for deletion
        compact_partition(lake, DAY, NOW)
        _route(lake, settings, 3)
    stored = _stored(lake)

    # A real process, killed where it prints PAUSED (drain.pause_point).
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from datetime import date, datetime\n"
            "from nelo_assets.ingestion.compaction import compact_partition\n"
            "from nelo_assets.settings import Settings\n"
            "from nelo_assets.storage.lake import Lake\n"
            "settings = Settings.from_env({'NELO_DATA_DIR': sys.argv[1], "
            "'NELO_START_DATE': '2026-01-01', 'NELO_LAKE_URL': sys.argv[2]})\n"
            "compact_partition(Lake.from_settings(settings), date.fromisoformat(sys.argv[3]), "
            "datetime.fromisoformat(sys.argv[4]))\n",
            str(settings.data_dir),
            lake_url or "",
            DAY.isoformat(),
            LATER.isoformat(),
        ],
        cwd=REPO,
        env={**os.environ, PAUSE_ENV: stage},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == f"PAUSED {stage}"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()

    assert _stored(lake) == stored  # counted once: the old files, or the compaction alone
    compact_partition(lake, DAY, LATER + timedelta(minutes=11))
    compact_partition(lake, DAY, LATER + timedelta(minutes=22))
    assert _stored(lake) == stored
    # Nothing folded is left: every file there is counted.
    with connect(reads=lake.root) as con:
        listed = lake.partition_files(BRONZE, DAY)
        assert bind_parquet(con, "t", BRONZE, listed) == len(listed)


@BOTH_LAKES
def test_a_reader_that_listed_the_old_files_still_reads_them(
    tmp_path, lake_url: str | None
) -> None:
    lake, settings = _setup(tmp_path, lake_url)
    for batch in range(3):
        _route(lake, settings, batch)
    stored = _stored(lake)
    with connect(reads=lake.root) as con:
        assert bind_parquet(con, "t", BRONZE, lake.partition_files(BRONZE, DAY)) == 3
        compact_partition(lake, DAY, NOW)  # commits while this reader has its listing
        assert con.execute(f"select * exclude ({ROW_IDENTITY}) from t order by all").fetchall() == (
            stored
        )
    assert _stored(lake) == stored


@BOTH_LAKES
def test_late_events_written_alongside_compactions_are_counted_once(
    tmp_path, lake_url: str | None
) -> None:
    lake, settings = _setup(tmp_path, lake_url)
    expected = _route(lake, settings, 0) + _route(lake, settings, 1)
    routed: list[int] = []

    def ingest() -> None:  # an ingest run writing late events of DAY meanwhile
        for batch in range(2, 10):
            routed.append(_route(lake, settings, batch))

    writer = threading.Thread(target=ingest)
    writer.start()
    rounds = 0
    while writer.is_alive() or rounds < 2:
        # No grace: each round also deletes what the previous one folded.
        compact_partition(lake, DAY, NOW + timedelta(seconds=rounds), grace=timedelta(0))
        rounds += 1
    writer.join()
    compact_partition(lake, DAY, NOW + timedelta(seconds=rounds), grace=timedelta(0))

    stored = _stored(lake)
    assert len(stored) == expected + sum(routed)  # every stored row, counted once
    model = read_bronze(lake, [DAY])
    assert len(model) == len({(row[0], row[1]) for row in stored})


def test_the_ingest_run_compacts_the_days_it_has_moved_past(queue_lake: QueueLake) -> None:
    lake, settings = queue_lake.lake, queue_lake.settings
    today = datetime.now(settings.tz).date()
    settled, current = today - timedelta(days=2), today
    for batch in range(3):
        _route(lake, settings, batch, day=settled)
        _route(lake, settings, batch, day=current)
    stored = _stored(lake, settled)

    result = ingest_job.execute_in_process(
        resources={"lake": LakeResource.from_settings(settings), "sqs": queue_lake.sqs},
        instance=DagsterInstance.ephemeral(),
        run_config={"ops": {"ingest_from_sqs": {"config": {"wait_seconds": 1}}}},
    )

    assert result.success
    with connect() as con:
        assert bind_parquet(con, "t", BRONZE, lake.partition_files(BRONZE, settled)) == 1
        assert bind_parquet(con, "t", BRONZE, lake.partition_files(BRONZE, current)) == 3
    assert _stored(lake, settled) == stored
