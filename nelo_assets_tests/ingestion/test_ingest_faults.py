"""Kill the real nelo-ingest process at each stage of a flush: nothing is lost or duplicated."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nelo_assets.ingestion.drain import PAUSE_ENV, PAUSE_STAGES
from nelo_assets_tests.environment import REPO
from nelo_assets_tests.queue_lake import QueueLake
from nelo_assets_tests.traffic import assert_exactly_once, traffic

VISIBILITY_TIMEOUT = 2


def _wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = proc.stdout.readline()
                if line.strip() == expected:
                    return
                assert line, f"nelo-ingest exited ({proc.wait()}) before {expected!r}"
    pytest.fail(f"nelo-ingest never printed {expected!r}")


def _files(q: QueueLake, pattern: str) -> list[Path]:
    return sorted(q.lake.root.glob(pattern))


@pytest.mark.parametrize("stage", PAUSE_STAGES)
def test_sigkill_at_each_stage_loses_and_duplicates_nothing(
    stage: str, queue_lake: QueueLake
) -> None:
    now = datetime.now(UTC)
    sent = traffic(24, [now.date() - timedelta(days=d) for d in (1, 4)], now)
    message_ids = queue_lake.send([s.body for s in sent])
    env = {
        **os.environ,
        "NELO_DATA_DIR": str(queue_lake.settings.data_dir),
        "NELO_START_DATE": queue_lake.settings.start_date.isoformat(),
        "NELO_TIMEZONE": queue_lake.settings.timezone,
        "NELO_SQS_QUEUE_URL": queue_lake.queue_url,
        PAUSE_ENV: stage,
    }
    args = ["--visibility-timeout", str(VISIBILITY_TIMEOUT), "--wait-seconds", "1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "nelo_assets.ingestion.cli", *args, "--receivers", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        _wait_for_line(proc, f"PAUSED {stage}")
    finally:
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()

    # The crash left every message in the queue, and the disk at exactly this stage.
    assert sum(queue_lake.counts()) == len(sent)
    landing = _files(queue_lake, "landing/*/*/*/*.jsonl.gz")
    bronze = _files(queue_lake, "bronze/bronze_events/*/*.parquet")
    markers = _files(queue_lake, "landing/*/*/*/*.routed.json")
    assert bool(landing) == (stage != "after_receive")
    assert bool(bronze) == (stage in ("after_routing", "before_delete"))
    assert bool(markers) == (stage == "before_delete")

    deadline = time.monotonic() + 30
    while queue_lake.counts()[1] and time.monotonic() < deadline:
        time.sleep(0.1)  # polling SQS until the killed receipts time out
    reports = queue_lake.drain_until_empty(max_messages=1000)

    assert_exactly_once(queue_lake.lake, sent, message_ids)
    assert queue_lake.counts() == (0, 0)
    assert sum(report.messages_received for report in reports) >= len(sent)
    if stage != "before_delete":  # there, the other receiver may or may not have marked its batch
        assert bool(reports[0].recovered_batches) == (stage in ("after_landing", "after_routing"))
