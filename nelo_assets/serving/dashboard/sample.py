"""A small simulated lake, built through the whole pipeline, for the notebook and the tests.

It lets the notebook run anywhere (no queue, no Dagster) and gives the dashboard tests real marts.
"""

from __future__ import annotations

import fcntl
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from nelo_assets.serving.analytics import publish_views
from nelo_assets.settings import Settings
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.pipeline import build_everything

# Written last: a lake without it was interrupted mid-build and is rebuilt.
DONE_MARKER = ".sample-complete"


@dataclass(frozen=True)
class Sample:
    start: date = date(2026, 1, 1)
    days: int = 3
    events_per_day: int = 1000
    seed: int = 11

    @property
    def dates(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range(self.days)]


def build_sample_lake(data_dir: Path, sample: Sample = Sample()) -> Lake:
    """Simulate `sample` into `data_dir` and run the pipeline; reuse a finished identical build.

    Processes asking for the same folder at once (parallel test workers) build it once.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir.parent / f".{data_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = data_dir / DONE_MARKER
        if not (marker.exists() and marker.read_text() == repr(sample)):
            _build(data_dir, sample)
            marker.write_text(repr(sample))
    return Lake(data_dir.resolve())


def _build(data_dir: Path, sample: Sample) -> None:
    settings = Settings.from_env(
        {"NELO_DATA_DIR": str(data_dir), "NELO_START_DATE": sample.start.isoformat()}
    )
    lake = Lake(settings.data_dir)
    config = SimulationConfig(
        seed=sample.seed,
        start=sample.start,
        days=sample.days,
        events_per_day=sample.events_per_day,
        timezone=settings.timezone,
    )
    write_archive(config, lake.landing_dir)
    build_everything(lake, settings, sample.dates)
    publish_views(lake)
