"""Shared fixtures: one moto SQS server over HTTP per session, a fresh queue and lake per test,
an empty lake with its settings, and the dashboard's sample lake built once per run."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import boto3
import pytest
from moto.server import ThreadedMotoServer

from nelo_assets.defs.resources import SQSResource
from nelo_assets.ingestion.sqs import ensure_queue
from nelo_assets.serving.dashboard.sample import build_sample_lake
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.helpers import TEST_START_DATE, TEST_TIMEZONE, QueueLake, settings_for
from nelo_assets_tests.postgres import postgres_cluster, postgres_env  # noqa: F401 (fixtures)

_AWS_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """A moto server on a free port; the AWS variables point boto3 (and subprocesses) at it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {key: os.environ.get(key) for key in [*_AWS_ENV, "AWS_ENDPOINT_URL_SQS"]}
    os.environ.update(_AWS_ENV, AWS_ENDPOINT_URL_SQS=endpoint)
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture
def queue_lake(sqs_endpoint: str, tmp_path: Path) -> QueueLake:
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
        }
    )
    return QueueLake(
        queue_url=queue_url,
        dlq_url=dlq_url,
        client=client,
        settings=settings,
        lake=Lake(settings.data_dir),
        sqs=SQSResource(queue_url=queue_url),
    )


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture(scope="session")
def dashboard_sample(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The simulated sample lake the dashboard tests read (nelo_assets.serving.dashboard.sample)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run: built once
    return build_sample_lake(root / "dashboard_sample")
