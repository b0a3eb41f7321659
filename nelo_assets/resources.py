"""Dagster resources: the lake (paths and settings) and the SQS queue, wired from the environment."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dagster import ConfigurableResource

from nelo_assets.lake import Lake
from nelo_assets.settings import Settings


class LakeResource(ConfigurableResource):
    """Root of landing, bronze, silver, gold and analytics.duckdb, plus the business calendar."""

    data_dir: str
    timezone: str
    start_date: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeResource:
        return cls(
            data_dir=str(settings.data_dir),
            timezone=settings.timezone,
            start_date=settings.start_date.isoformat(),
        )

    @property
    def lake(self) -> Lake:
        return Lake(Path(self.data_dir))

    @property
    def settings(self) -> Settings:
        base = Settings.from_env()
        return Settings(
            data_dir=Path(self.data_dir),
            timezone=self.timezone,
            start_date=date.fromisoformat(self.start_date),
            queue_url=base.queue_url,
            sensor_interval_seconds=base.sensor_interval_seconds,
        )
