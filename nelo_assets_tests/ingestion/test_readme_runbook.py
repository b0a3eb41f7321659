"""The README's runbook for a real queue, run as written against the moto server: its `aws sqs`
commands (awscli from PyPI; only AWS_ENDPOINT_URL_SQS added), then `nelo-ingest` on the queue URL
of step 4 with the region set only as AWS_REGION, or not at all (taken from the URL); and every
configuration mistake is one readable line (exit 2 from the CLI, the message of the sensor's
error)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from nelo_assets.defs.resources import SQSResource
from nelo_assets.ingestion.sqs import QueueConfigError, region_from_queue_url
from nelo_assets_tests.environment import REPO

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
BIN = Path(sys.executable).parent


def _runbook() -> tuple[str, str]:
    """(step 1's bash block, step 4's queue URL), placeholders filled in."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Pointing it at a real AWS queue", 1)[1].split("\n### ", 1)[0]
    script = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    queue_url = re.search(r"NELO_SQS_QUEUE_URL=(\S+)", section).group(1)
    fill = lambda text: text.replace("<region>", REGION).replace("<account>", ACCOUNT)  # noqa: E731
    return fill(script), fill(queue_url)


def _environment(endpoint: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user's shell: test credentials, the endpoint override, no region unless given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NELO_"))}
    env.update(
        PATH=f"{BIN}:{env['PATH']}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL_SQS=endpoint,
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        NELO_DATA_DIR=str(tmp_path / "data"),
        **extra,
    )
    return env


def test_runbook_commands_create_the_queue_and_nelo_ingest_drains_it(
    sqs_endpoint: str, tmp_path: Path
) -> None:
    script, queue_url = _runbook()
    env = _environment(sqs_endpoint, tmp_path)
    # The endpoint override, and nothing else, added in front of the commands as written. As a
    # flag: awscli v1 pins SQS to https://<region>.queue.amazonaws.com (its SSL common-name
    # customization) and so ignores AWS_ENDPOINT_URL_SQS, which boto3 and awscli v2 honour.
    override = 'aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL_SQS" "$@"; }\n'
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", override + script],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr

    client = boto3.client("sqs", region_name=REGION, endpoint_url=sqs_endpoint)
    url = client.get_queue_url(QueueName="nelo-events")["QueueUrl"]
    redrive = json.loads(
        client.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert redrive["deadLetterTargetArn"].endswith(":nelo-events-dlq")
    assert int(redrive["maxReceiveCount"]) == 5
    client.send_message(QueueUrl=url, MessageBody="{}")

    # Step 4 with the region only in AWS_REGION (boto3 itself reads AWS_DEFAULT_REGION), then
    # with no region at all: the queue URL names it.
    for extra in ({"AWS_REGION": REGION}, {}):
        drained = subprocess.run(
            [str(BIN / "nelo-ingest"), "--max-seconds", "3", "--wait-seconds", "1"],
            env={**_environment(sqs_endpoint, tmp_path, **extra), "NELO_SQS_QUEUE_URL": queue_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert drained.returncode == 0, drained.stderr
    assert (
        client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )


@pytest.mark.parametrize(
    ("extra", "queue_url", "expected"),
    [
        ({}, "http://127.0.0.1:9/000000000000/q", "no AWS region: set AWS_REGION"),
        ({"AWS_PROFILE": "nope", "AWS_REGION": REGION}, None, "profile (nope) could not be found"),
    ],
    ids=["no-region", "unknown-profile"],
)
def test_configuration_mistakes_are_one_line_and_exit_2(
    sqs_endpoint: str, tmp_path: Path, extra: dict, queue_url: str | None, expected: str
) -> None:
    env = _environment(sqs_endpoint, tmp_path, **extra)
    env["NELO_SQS_QUEUE_URL"] = queue_url or f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q"
    done = subprocess.run(
        [str(BIN / "nelo-ingest")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr


def test_sqs_resource_explains_a_missing_region(
    sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the sqs_sensor's tick shows: the error's one line, not a botocore trace."""
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    resource = SQSResource(queue_url="http://127.0.0.1:9/000000000000/q")
    with pytest.raises(QueueConfigError, match="no AWS region"):
        resource.get_client(quick=True)
    # An AWS queue URL is enough on its own.
    aws = SQSResource(queue_url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q")
    assert aws.get_client(quick=True).meta.region_name == REGION


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/1/q", "eu-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/1/q", "cn-north-1"),
        ("https://queue.amazonaws.com/1/q", "us-east-1"),
        ("http://127.0.0.1:5055/1/q", None),
        (None, None),
    ],
)
def test_region_from_queue_url(url: str | None, region: str | None) -> None:
    assert region_from_queue_url(url) == region
