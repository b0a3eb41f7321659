"""The SQS queue as a Dagster resource, and the creation of a queue with its dead-letter queue.

Credentials come only from the standard AWS chain (R8); the endpoint comes from
AWS_ENDPOINT_URL_SQS when `endpoint_url` is left unset, which boto3 honours only if we pass None.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from dagster_aws.utils import ResourceWithBoto3Configuration

# The queue errors live with the Dagster-free client code; they are re-exported for callers here.
from nelo_assets.ingest import QUEUE_ERRORS, QueueError, describe_error, sqs_client

__all__ = [
    "DEFAULT_MAX_RECEIVE_COUNT",
    "QUEUE_ERRORS",
    "QueueError",
    "SQSResource",
    "describe_error",
    "ensure_queue",
]

DEFAULT_MAX_RECEIVE_COUNT = 5


class SQSResource(ResourceWithBoto3Configuration):
    """The queue the pipeline consumes; region, profile and endpoint follow the AWS chain."""

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
