"""The SQS client (standard AWS chain, R8), its errors, queue counts, and queue creation.

Free of Dagster so the nelo-ingest process starts fast; the SQSResource in defs/ calls it.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_MAX_RECEIVE_COUNT = 5

# A sensor tick must return fast even when the endpoint is down (R5): short timeouts, one retry.
QUICK_TIMEOUT_SECONDS = 2
QUICK_MAX_ATTEMPTS = 2
# Long polls wait up to 20 s server-side, so the normal read timeout must be longer than that.
READ_TIMEOUT_SECONDS = 40
QUEUE_ERRORS = (BotoCoreError, ClientError)


class QueueError(RuntimeError):
    """The queue cannot be reached or used; the message is one readable line."""


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
    **session: str | None,
) -> Any:
    """An SQS client from the standard AWS chain. `session` takes boto3 Session arguments.

    Lives here, free of Dagster, so the nelo-ingest process starts fast; SQSResource calls it.
    `endpoint_url=None` lets boto3 honour AWS_ENDPOINT_URL_SQS. `quick` clients give up within
    a few seconds (sensor ticks).
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
    return boto3.session.Session(**session).client(
        "sqs", endpoint_url=endpoint_url, use_ssl=use_ssl, verify=verify, config=config
    )


def queue_counts(client: Any, queue_url: str) -> tuple[int, int]:
    """(messages waiting, messages in flight) of the queue; only reads (R5)."""
    try:
        attributes = client.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
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
