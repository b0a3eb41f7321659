"""What the pipeline health alerts read from SQS: the dead-letter queue of a queue and its size.

Only reads (R5). A real queue names its dead-letter queue in its RedrivePolicy attribute; the
demo queue's is `<name>-dlq`, set the same way by ensure_queue.
"""

from __future__ import annotations

import json
from typing import Any

from nelo_assets.ingestion.sqs import queue_counts


def dead_letter_url(client: Any, queue_url: str) -> str | None:
    """The URL of the queue's dead-letter queue, or None when it has no redrive policy."""
    attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    policy = attributes.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        return None
    # arn:aws:sqs:<region>:<account>:<name>
    *_, account, name = json.loads(policy)["deadLetterTargetArn"].split(":")
    return client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def dead_letter_count(client: Any, dlq_url: str) -> int:
    """Messages in a dead-letter queue, visible or not."""
    return sum(queue_counts(client, dlq_url))
