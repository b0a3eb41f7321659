"""A fresh queue (with its dead-letter queue) and an empty lake: the harness the ingestion tests
drive (the `queue_lake` fixture in conftest.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nelo_assets.defs.resources import SQSResource
from nelo_assets.ingestion.drain import IngestReport, drain_queue
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake


@dataclass
class QueueLake:
    """A fresh queue (with its dead-letter queue) and an empty lake under tmp_path."""

    queue_url: str
    dlq_url: str
    client: Any
    settings: Settings
    lake: Lake
    sqs: SQSResource

    def counts(self) -> tuple[int, int]:
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def drain_until_empty(self, **options: Any) -> list[IngestReport]:
        """Drain as the sensor would, run after run, until the queue is empty; one run usually
        does it. moto's threaded server sometimes fails a receive ("Set changed size during
        iteration"), and the messages it hid come back after their visibility timeout, which is
        short here for that reason."""
        options = {
            "max_messages": 10_000,
            "max_seconds": 60,
            "visibility_timeout": 10,
            "wait_seconds": 0,
            **options,
        }
        deadline = time.monotonic() + 120
        reports = [drain_queue(self.client, self.queue_url, self.lake, self.settings, **options)]
        while self.counts() != (0, 0) and time.monotonic() < deadline:
            time.sleep(1)  # until a hidden message is visible again
            reports.append(
                drain_queue(self.client, self.queue_url, self.lake, self.settings, **options)
            )
        return reports

    def send(self, bodies: list[str]) -> list[str]:
        """Send bodies in batches (ten at most, under 1 MiB); return their message ids in order."""
        ids: list[str] = []
        chunk: list[str] = []
        for body in [*bodies, None]:
            full = len(chunk) == 10 or sum(map(len, chunk)) + len(body or "") > 1_000_000
            if chunk and (body is None or full):
                response = self.client.send_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)],
                )
                assert not response.get("Failed"), response.get("Failed")
                by_id = {entry["Id"]: entry["MessageId"] for entry in response["Successful"]}
                ids.extend(by_id[str(i)] for i in range(len(chunk)))
                chunk = []
            if body is not None:
                chunk.append(body)
        return ids
