"""Runtime settings, read once from the environment variables of the README."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

# The first partition when NELO_START_DATE is not set (documented in README.md).
DEFAULT_START_DATE = date(2026, 1, 1)
DEFAULT_TIMEZONE = "America/Mexico_City"
DEFAULT_SENSOR_INTERVAL_SECONDS = 10
# An automation tick costs about twice an SQS tick in the code server, and every probe waits for
# one: 20 s keeps the idle cost under 1.5 times the old 30 s ticks (bench/report.md, Freshness).
DEFAULT_AUTOMATION_INTERVAL_SECONDS = 20
# How long bronze may go without an update before its freshness policy fails.
DEFAULT_FRESHNESS_HOURS = 6.0
# The Dagster UI address that alert messages link to.
DEFAULT_UI_BASE_URL = "http://127.0.0.1:3000"
# The queue `make demo` creates on its local SQS-compatible server (moto).
DEMO_SQS_PORT = 5055
DEMO_QUEUE_NAME = "nelo-events"
DEMO_QUEUE_URL = f"http://127.0.0.1:{DEMO_SQS_PORT}/123456789012/{DEMO_QUEUE_NAME}"
# A bucket name as S3 allows it, then an optional key prefix.
LAKE_URL = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?")
# Every variable Settings.from_env reads (nelo_assets.environment gathers the rest).
SETTINGS_VARIABLES = (
    "NELO_DATA_DIR",
    "NELO_LAKE_URL",
    "NELO_SQS_QUEUE_URL",
    "NELO_TIMEZONE",
    "NELO_START_DATE",
    "NELO_SENSOR_INTERVAL_SECONDS",
    "NELO_AUTOMATION_INTERVAL_SECONDS",
    "NELO_FRESHNESS_HOURS",
)


class SettingsError(ValueError):
    """An environment variable holds a value the pipeline cannot use."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    timezone: str
    start_date: date
    queue_url: str = DEMO_QUEUE_URL
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS
    automation_interval_seconds: int = DEFAULT_AUTOMATION_INTERVAL_SECONDS
    freshness_hours: float = DEFAULT_FRESHNESS_HOURS
    # s3://bucket/prefix puts the lake on S3; None keeps it in data_dir (analytics.duckdb
    # always stays in data_dir).
    lake_url: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def alert_interval_seconds(self) -> int:
        # Alerts are about minutes of trouble: ticking a third as often as automation keeps
        # their idle CPU down (bench/report.md, Freshness) and still alerts within a minute.
        return 3 * self.automation_interval_seconds

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        timezone = env.get("NELO_TIMEZONE") or DEFAULT_TIMEZONE
        try:
            ZoneInfo(timezone)
        except Exception as exc:
            raise SettingsError(f"NELO_TIMEZONE={timezone!r} is not a known time zone") from exc
        raw_start = env.get("NELO_START_DATE")
        try:
            start_date = date.fromisoformat(raw_start) if raw_start else DEFAULT_START_DATE
        except ValueError as exc:
            raise SettingsError(f"NELO_START_DATE={raw_start!r} is not a YYYY-MM-DD date") from exc
        lake_url = env.get("NELO_LAKE_URL") or None
        if lake_url is not None and not LAKE_URL.fullmatch(lake_url):
            raise SettingsError(
                f"NELO_LAKE_URL={lake_url!r} is not an s3://bucket/prefix URL "
                "(leave it unset for a lake in NELO_DATA_DIR)"
            )
        return cls(
            lake_url=lake_url.rstrip("/") if lake_url else None,
            data_dir=Path(env.get("NELO_DATA_DIR") or "./data").resolve(),
            timezone=timezone,
            start_date=start_date,
            queue_url=env.get("NELO_SQS_QUEUE_URL") or DEMO_QUEUE_URL,
            sensor_interval_seconds=_seconds(
                env, "NELO_SENSOR_INTERVAL_SECONDS", DEFAULT_SENSOR_INTERVAL_SECONDS
            ),
            automation_interval_seconds=_seconds(
                env, "NELO_AUTOMATION_INTERVAL_SECONDS", DEFAULT_AUTOMATION_INTERVAL_SECONDS
            ),
            freshness_hours=_hours(env, "NELO_FRESHNESS_HOURS", DEFAULT_FRESHNESS_HOURS),
        )


def _hours(env: dict[str, str] | os._Environ[str], name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        hours = float(raw)
    except ValueError:
        hours = 0.0
    # Dagster's freshness policies take windows of a minute or more.
    if hours < 1 / 60:
        raise SettingsError(f"{name}={raw!r} is not a number of hours of at least 1/60")
    return hours


def _seconds(env: dict[str, str] | os._Environ[str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise SettingsError(f"{name}={raw!r} is not a whole number of seconds")
    return int(raw)
