"""Dagster resources: each holds its own configuration, taken from the environment (EnvVar)
when a variable is set, so the UI shows where a value came from, and from the documented
defaults otherwise."""

from __future__ import annotations

import os
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.utils import ResourceWithBoto3Configuration
from dagster_duckdb import DuckDBResource

from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.ingestion.sqs import sqs_client
from nelo_assets.quality.thresholds import VARIABLES, Thresholds
from nelo_assets.settings import DEFAULT_UI_BASE_URL, Settings
from nelo_assets.storage.lake import Lake


class LakeResource(dg.ConfigurableResource):
    """Where landing, bronze, silver and gold live (data_dir, or the S3 location lake_url) and
    analytics.duckdb (always in data_dir), plus the business calendar."""

    data_dir: str
    timezone: str
    start_date: str
    lake_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeResource:
        return cls(
            data_dir=str(settings.data_dir),
            timezone=settings.timezone,
            start_date=settings.start_date.isoformat(),
            lake_url=settings.lake_url,
        )

    @property
    def lake(self) -> Lake:
        return Lake.from_settings(self.settings)

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=Path(self.data_dir).resolve(),
            timezone=self.timezone,
            start_date=date.fromisoformat(self.start_date),
            lake_url=self.lake_url,
        )


class SQSResource(ResourceWithBoto3Configuration):
    """The queue the pipeline consumes; region, profile and endpoint follow the AWS chain (the
    region also from AWS_REGION or the queue URL). A configuration mistake raises
    QueueConfigError with one readable line: the sensor tick shows it as its message."""

    queue_url: str

    def get_client(self, *, quick: bool = False) -> Any:
        """An SQS client; `quick` clients (for sensor ticks) give up within a few seconds.

        Cached per configuration and AWS_* environment: building a client costs far more than
        a sensor tick may (R5), and botocore clients are thread-safe. Role credentials still
        refresh themselves.
        """
        return _cached_client(
            tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))),
            self.profile_name,
            self.region_name,
            self.aws_access_key_id,
            self.aws_secret_access_key,
            self.aws_session_token,
            self.endpoint_url,
            self.use_ssl,
            self.verify,
            self.max_attempts,
            quick,
            self.queue_url,
        )


@cache
def _cached_client(
    _aws_environment: tuple[tuple[str, str], ...],  # only part of the cache key
    profile_name: str | None,
    region_name: str | None,
    aws_access_key_id: str | None,
    aws_secret_access_key: str | None,
    aws_session_token: str | None,
    endpoint_url: str | None,
    use_ssl: bool,
    verify: bool | None,
    max_attempts: int,
    quick: bool,
    queue_url: str,
) -> Any:
    return sqs_client(
        profile_name=profile_name,
        region_name=region_name,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
        endpoint_url=endpoint_url,
        use_ssl=use_ssl,
        verify=verify,
        max_attempts=max_attempts,
        quick=quick,
        queue_url=queue_url,
    )


def analytics_resource(lake: Lake) -> DuckDBResource:
    """The pipeline's handle on analytics.duckdb (written only by the views asset)."""
    return DuckDBResource(database=str(lake.duckdb_path))


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go (a Slack-compatible webhook; none means logged only) and the UI they link to."""

    webhook_url: str | None = None
    ui_base_url: str = DEFAULT_UI_BASE_URL
    # Pipeline health (docs/checks.md, Alerts). Longer than an ingest run's receive window plus
    # the visibility timeout (about 2.5 min), so a crash that heals by itself does not page anyone.
    stall_seconds: int = 900
    mart_lag_seconds: int = 3600


class ChecksResource(dg.ConfigurableResource):
    """The limits of the WARN data checks; a setting left unset keeps the default in Thresholds.

    Text fields because Dagster resolves an EnvVar to text for anything but an int; `thresholds`
    validates them with a message that names the variable.
    """

    max_quarantine_rate: str | None = None
    max_unknown_platform_share: str | None = None
    duplicate_window_days: str | None = None
    known_event_names: str | None = None  # extra known names, comma-separated

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds.parse({field: getattr(self, field) for field in VARIABLES})


def _env_or(name: str, default: str | None) -> Any:
    """EnvVar(name) when the variable is set, else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _int_env_or(name: str, default: int) -> Any:
    """EnvVar.int(name) when the variable is set, else the default."""
    return dg.EnvVar.int(name) if os.environ.get(name) else default


@dg.definitions
def resources() -> dg.Definitions:
    lake = LakeResource(
        data_dir=_env_or("NELO_DATA_DIR", str(SETTINGS.data_dir)),
        lake_url=_env_or("NELO_LAKE_URL", SETTINGS.lake_url),
        # The business calendar is part of the graph (the partitions), so it comes from the one
        # settings read the partitions use.
        timezone=SETTINGS.timezone,
        start_date=SETTINGS.start_date.isoformat(),
    )
    return dg.Definitions(
        resources={
            "lake": lake,
            "analytics": analytics_resource(Lake(SETTINGS.data_dir)),
            "sqs": SQSResource(queue_url=_env_or("NELO_SQS_QUEUE_URL", SETTINGS.queue_url)),
            "alerts": AlertsResource(
                webhook_url=_env_or("NELO_ALERT_WEBHOOK_URL", None),
                ui_base_url=_env_or("NELO_UI_BASE_URL", DEFAULT_UI_BASE_URL),
                stall_seconds=_int_env_or("NELO_ALERT_STALL_SECONDS", 900),
                mart_lag_seconds=_int_env_or("NELO_ALERT_MART_LAG_SECONDS", 3600),
            ),
            "checks": ChecksResource(
                **{field: _env_or(name, None) for field, name in VARIABLES.items()}
            ),
        },
    )
