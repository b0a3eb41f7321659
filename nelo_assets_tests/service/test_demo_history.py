"""Where the demo's partitions start: the first day of its history in the landing archive."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from nelo_assets.service.demo import _first_history_day
from nelo_assets.storage.lake import Lake


def test_partitions_start_on_the_first_landing_day(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    # Bronze holds only the history's last days until the backfill: landing has all of it.
    for day in ("2026/11/09", "2026/11/10", "2026/12/07"):
        (lake.landing_dir / day).mkdir(parents=True)
    (lake.partition_dir("bronze_events", date(2026, 11, 20))).mkdir(parents=True)
    assert _first_history_day(lake, fallback=date(2026, 12, 1)) == date(2026, 11, 9)


def test_a_demo_without_history_starts_on_the_fallback(tmp_path: Path) -> None:
    assert _first_history_day(Lake(tmp_path), fallback=date(2026, 12, 1)) == date(2026, 12, 1)
