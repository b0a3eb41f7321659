"""Every environment variable the pipeline's code reads, gathered from where each is read.

A run container, an ECS task or a pod must be given all of them (the ones set), or a run would
silently fall back to a default its code server did not use. nelo_assets_tests/test_environment.py
fails when the code reads a variable missing here.
"""

from __future__ import annotations

from nelo_assets.quality.thresholds import VARIABLES as CHECK_VARIABLES
from nelo_assets.settings import SETTINGS_VARIABLES

# Read by the alerts resource (defs/resources.py).
ALERT_VARIABLES = (
    "NELO_ALERT_WEBHOOK_URL",
    "NELO_UI_BASE_URL",
    "NELO_ALERT_STALL_SECONDS",
    "NELO_ALERT_MART_LAG_SECONDS",
)
# Read by the AWS SDKs (boto3 for SQS, pyarrow for S3): region, credentials, local endpoints.
AWS_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_S3",
)
# Read by the instance config (deploy/dagster.yaml): the instance database, the compute logs.
INSTANCE_VARIABLES = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
    "NELO_COMPUTE_LOGS_BUCKET",
)


def pipeline_variables() -> tuple[str, ...]:
    """The names, settings first, without repeats."""
    names = (
        *SETTINGS_VARIABLES,
        *CHECK_VARIABLES.values(),
        *ALERT_VARIABLES,
        *AWS_VARIABLES,
        *INSTANCE_VARIABLES,
    )
    return tuple(dict.fromkeys(names))
