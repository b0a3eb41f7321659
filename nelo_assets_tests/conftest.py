"""Fixtures of every test folder: one moto server over HTTP per session (SQS and S3), a fresh queue
and lake per test (the lake local, or on S3 in a fresh bucket where a test asks for both), and an
empty lake with its settings; a PostgreSQL cluster for the defs and service tests. A folder's own
fixtures are in its conftest.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import boto3
import pytest

from nelo_assets.defs.resources import SQSResource
from nelo_assets.ingestion.sqs import ensure_queue
from nelo_assets.service import processes
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.environment import TEST_START_DATE, TEST_TIMEZONE, free_port, settings_for
from nelo_assets_tests.postgres import postgres_cluster, postgres_env  # noqa: F401 (fixtures)
from nelo_assets_tests.queue_lake import QueueLake

_AWS_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server on a free port, in its own process: in ours, every S3 and SQS request would
    compete with the test for the GIL. The AWS variables point boto3, pyarrow's S3 filesystem
    (and subprocesses) at it for SQS and S3."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = processes.start(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=tmp_path_factory.getbasetemp() / "moto-server.log",
    )
    try:
        processes.wait_until(
            lambda: processes.http_ok(f"{endpoint}/moto-api/"), 30, "the moto server", [server]
        )
        endpoints = {"AWS_ENDPOINT_URL_SQS": endpoint, "AWS_ENDPOINT_URL_S3": endpoint}
        saved = {key: os.environ.get(key) for key in [*_AWS_ENV, *endpoints]}
        os.environ.update(_AWS_ENV, **endpoints)
        try:
            yield endpoint
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    finally:
        processes.stop([server])


@pytest.fixture(scope="session")
def sqs_endpoint(moto_endpoint: str) -> str:
    return moto_endpoint


@pytest.fixture
def s3_lake_url(moto_endpoint: str) -> str:
    """s3://<a fresh bucket>/lake on the moto server."""
    bucket = f"nelo-test-{uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake"


@pytest.fixture
def lake_url(request: pytest.FixtureRequest) -> str | None:
    """None (a local lake) unless a test is parametrized with BOTH_LAKES and runs as "s3"."""
    if getattr(request, "param", "local") == "s3":
        return request.getfixturevalue("s3_lake_url")
    return None


@pytest.fixture
def queue_lake(sqs_endpoint: str, tmp_path: Path, lake_url: str | None) -> QueueLake:
    client = boto3.client("sqs")
    name = f"nelo-test-{uuid4().hex[:12]}"
    queue_url = ensure_queue(client, name)
    dlq_url = client.get_queue_url(QueueName=f"{name}-dlq")["QueueUrl"]
    settings = Settings.from_env(
        {
            "NELO_DATA_DIR": str(tmp_path / "data"),
            "NELO_TIMEZONE": TEST_TIMEZONE,
            "NELO_START_DATE": TEST_START_DATE.isoformat(),
            "NELO_SQS_QUEUE_URL": queue_url,
            "NELO_LAKE_URL": lake_url or "",
        }
    )
    return QueueLake(
        queue_url=queue_url,
        dlq_url=dlq_url,
        client=client,
        settings=settings,
        lake=Lake.from_settings(settings),
        sqs=SQSResource(queue_url=queue_url),
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)
