"""The SQS client (standard AWS chain, R8), its errors, queue counts, and queue creation.

Free of Dagster so the nelo-ingest process starts fast; the SQSResource in defs/ calls it.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

DEFAULT_MAX_RECEIVE_COUNT = 5

# A sensor tick must return fast even when the endpoint is down (R5): short timeouts, one retry.
QUICK_TIMEOUT_SECONDS = 2
QUICK_MAX_ATTEMPTS = 2
# Long polls wait up to 20 s server-side, so the normal read timeout must be longer than that.
READ_TIMEOUT_SECONDS = 40
QUEUE_ERRORS = (BotoCoreError, ClientError)
# https://sqs.<region>.amazonaws.com/<account>/<name> (and .amazonaws.com.cn); the legacy
# https://queue.amazonaws.com/... is us-east-1.
_QUEUE_URL_REGION = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")
_LEGACY_QUEUE_HOST = "https://queue.amazonaws.com/"


class QueueError(RuntimeError):
    """The queue cannot be reached or used; the message is one readable line."""


class QueueConfigError(QueueError):
    """The AWS configuration is wrong (no region, unknown profile, bad endpoint, no credentials):
    a person must fix it, retrying will not help."""


def region_from_queue_url(queue_url: str | None) -> str | None:
    """The region an AWS queue URL names, or None for any other URL (a local server)."""
    if not queue_url:
        return None
    if queue_url.startswith(_LEGACY_QUEUE_HOST):
        return "us-east-1"
    match = _QUEUE_URL_REGION.match(queue_url)
    return match.group(1) if match else None


def describe_error(exc: BaseException) -> str:
    """One line for a botocore failure: the AWS error code and message, never a trace."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def sqs_client(
    *,
    endpoint_url: str | None = None,
    use_ssl: bool = True,
    verify: bool | None = True,
    max_attempts: int = 5,
    quick: bool = False,
    queue_url: str | None = None,
    **session: str | None,
) -> Any:
    """An SQS client from the standard AWS chain. `session` takes boto3 Session arguments.

    Lives here, free of Dagster, so the nelo-ingest process starts fast; SQSResource calls it.
    `endpoint_url=None` lets boto3 honour AWS_ENDPOINT_URL_SQS. `quick` clients give up within
    a few seconds (sensor ticks). The region is the one given, else AWS_REGION or
    AWS_DEFAULT_REGION (boto3 reads only the latter), else the profile's, else the one in
    `queue_url`. A configuration mistake raises QueueConfigError with one readable line.
    """
    if quick:
        config = Config(
            connect_timeout=QUICK_TIMEOUT_SECONDS,
            read_timeout=QUICK_TIMEOUT_SECONDS,
            retries={"max_attempts": QUICK_MAX_ATTEMPTS, "mode": "standard"},
        )
    else:
        config = Config(
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=20,
        )
    region = (
        session.pop("region_name", None)
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
    )
    try:
        boto_session = boto3.session.Session(region_name=region, **session)
        region = boto_session.region_name or region_from_queue_url(queue_url)
        if region is None:
            raise QueueConfigError(
                "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or use a queue URL of "
                "the form https://sqs.<region>.amazonaws.com/<account>/<queue>"
            )
        return boto_session.client(
            "sqs",
            region_name=region,
            endpoint_url=endpoint_url,
            use_ssl=use_ssl,
            verify=verify,
            config=config,
        )
    except (BotoCoreError, ValueError) as exc:  # unknown profile, malformed endpoint URL, ...
        raise QueueConfigError(f"SQS client: {describe_error(exc)}") from exc


def queue_counts(client: Any, queue_url: str) -> tuple[int, int]:
    """(messages waiting, messages in flight) of the queue; only reads (R5)."""
    try:
        attributes = client.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    except NoCredentialsError as exc:
        raise QueueConfigError(
            f"SQS queue {queue_url}: no AWS credentials found (set AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with a role)"
        ) from exc
    except QUEUE_ERRORS as exc:
        raise QueueError(f"SQS queue {queue_url}: {describe_error(exc)}") from exc
    return (
        int(attributes.get("ApproximateNumberOfMessages", 0)),
        int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    )


def ensure_queue(
    client: Any,
    name: str,
    *,
    dead_letter_name: str | None = None,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
) -> str:
    """Create `name` and its dead-letter queue (default `<name>-dlq`) with a redrive policy.

    Idempotent: re-running with the same arguments returns the same queue URL.
    """
    dlq_url = client.create_queue(QueueName=dead_letter_name or f"{name}-dlq")["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    queue_url = client.create_queue(QueueName=name)["QueueUrl"]
    # Set separately: create_queue refuses attributes that differ from an existing queue's.
    client.set_queue_attributes(QueueUrl=queue_url, Attributes={"RedrivePolicy": redrive})
    return queue_url
