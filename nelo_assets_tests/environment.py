"""What every test runs in: the repository, a free local port, the settings of a test's lake
(start date, time zone, local or on S3) and times in that time zone."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nelo_assets.settings import Settings

REPO = Path(__file__).resolve().parent.parent
TEST_START_DATE = date(2020, 1, 1)
TEST_TIMEZONE = "America/Mexico_City"
LOCAL = ZoneInfo(TEST_TIMEZONE)  # UTC-6 all year since 2022


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=LOCAL)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    # 15:00..23:59 UTC is 09:00..17:59 in Mexico City: the same calendar date.
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def settings_for(
    root: Path, start_date: date = date(2026, 1, 1), lake_url: str | None = None
) -> Settings:
    """The shipped settings (Mexico City time) for a lake at `root` (or at `lake_url` on S3,
    with analytics.duckdb in `root`) whose data starts on `start_date`."""
    return Settings.from_env(
        {
            "NELO_DATA_DIR": str(root),
            "NELO_START_DATE": start_date.isoformat(),
            "NELO_LAKE_URL": lake_url or "",
        }
    )


# A test marked so runs twice: with its lake in tmp_path, and on S3 (moto) in a fresh bucket;
# it receives the location as its `lake_url` fixture (None for the local lake).
BOTH_LAKES = pytest.mark.parametrize("lake_url", ["local", "s3"], indirect=True)
