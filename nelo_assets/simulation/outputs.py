"""Where simulated messages go: the landing archive (as if ingested) or a real SQS queue."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from nelo_assets.ingestion.landing import LandedMessage, write_landing_file
from nelo_assets.simulation.config import SimulatedMessage, SimulationConfig
from nelo_assets.simulation.stream import generate_messages

SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * 1024
SEND_ATTEMPTS = 3


class PublishError(RuntimeError):
    """The queue cannot be reached or refuses messages; the message is one readable line."""


def _describe(exc: BotoCoreError | ClientError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}".strip()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def sqs_client() -> Any:
    """An SQS client from the standard AWS chain (AWS_ENDPOINT_URL_SQS, AWS_REGION, profile)."""
    return boto3.session.Session().client(
        "sqs", config=Config(connect_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
    )


@dataclass(frozen=True)
class ArchiveSummary:
    messages: int
    events: int  # batch members and single events, as delivered (duplicates included)
    files: tuple[Path, ...]
    outcomes: dict[str, int]  # "valid" or reason code -> events (or whole messages) built for it

    def __str__(self) -> str:
        return f"{self.messages} messages ({self.events} events) in {len(self.files)} landing files"


def _batches(
    messages: Iterator[SimulatedMessage], batch_size: int
) -> Iterator[list[SimulatedMessage]]:
    """Runs of at most `batch_size` messages, cut where the UTC receive date changes."""
    batch: list[SimulatedMessage] = []
    for message in messages:
        if batch and (
            len(batch) >= batch_size or message.received_at.date() != batch[0].received_at.date()
        ):
            yield batch
            batch = []
        batch.append(message)
    if batch:
        yield batch


def write_archive(
    config: SimulationConfig, landing_dir: Path, *, batch_size: int = 5000, progress: bool = False
) -> ArchiveSummary:
    """Write the simulation into the landing archive, as ingestion would have landed it.

    Batch ids start with the first receive time, so they sort in receive order; the same config
    writes the same files byte for byte (re-running replaces them with identical ones).
    """
    files: list[Path] = []
    outcomes: Counter[str] = Counter()
    messages = events = 0
    with tqdm(unit=" events", disable=not progress, desc="archive") as bar:
        for number, batch in enumerate(_batches(generate_messages(config), batch_size)):
            first = batch[0].received_at.astimezone(UTC)
            batch_id = f"{first:%Y%m%dT%H%M%S%fZ}-sim{config.seed}-{number:06d}"
            landed = (
                LandedMessage(m.message_id, m.received_at, m.receive_count, m.body) for m in batch
            )
            files.append(write_landing_file(landing_dir, batch_id, landed, first.date()))
            for message in batch:
                outcomes.update(message.expected_events or (message.expected,))
            delivered = sum(m.event_count for m in batch)
            messages += len(batch)
            events += delivered
            bar.update(delivered)
    return ArchiveSummary(messages, events, tuple(files), dict(sorted(outcomes.items())))


class _BatchSender:
    """Groups bodies into SendMessageBatch calls of at most 10 entries and 256 KiB."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url
        self.entries: list[str] = []
        self.size = 0
        self.sent = 0

    def add(self, body: bytes) -> None:
        if len(self.entries) == SQS_BATCH_ENTRIES or self.size + len(body) > SQS_BATCH_BYTES:
            self.flush()
        self.entries.append(body.decode("utf-8"))
        self.size += len(body)

    def flush(self) -> None:
        pending = dict(enumerate(self.entries))
        for _ in range(SEND_ATTEMPTS):
            if not pending:
                break
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "MessageBody": body} for n, body in pending.items()],
            )
            failed = response.get("Failed", [])
            for failure in failed:
                if failure.get("SenderFault"):
                    raise PublishError(
                        f"SQS queue {self.queue_url} refused a message: {failure.get('Message')}"
                    )
            pending = {int(f["Id"]): pending[int(f["Id"])] for f in failed}
        if pending:
            raise PublishError(
                f"SQS queue {self.queue_url}: {len(pending)} messages failed {SEND_ATTEMPTS} times"
            )
        self.sent += len(self.entries)
        self.entries, self.size = [], 0


def publish_to_sqs(
    config: SimulationConfig,
    queue_url: str,
    *,
    rate: float | None = None,
    realtime: bool = False,
    max_events: int | None = None,
    duration: float | None = None,
    client: Any = None,
    progress: bool = True,
) -> int:
    """Send the simulation to an SQS queue; return the number of messages sent.

    `rate` caps the send speed in events per second; `realtime` sends each message at its
    simulated receive time instead (live traffic: give the config a `begin` of now). Sending
    stops after `max_events` events or `duration` seconds. The client follows the standard AWS
    chain, AWS_ENDPOINT_URL_SQS included. Queue failures raise `PublishError` (one line).
    """
    config = replace(config, transport="sqs")
    try:
        client = client or sqs_client()
        client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        sender = _BatchSender(client, queue_url)
        started, started_wall = time.monotonic(), time.time()
        events = 0
        with tqdm(total=max_events, unit=" events", disable=not progress, desc="sqs") as bar:
            for message in generate_messages(config):
                if max_events is not None and events >= max_events:
                    break
                due = started + events / rate if rate else started
                if realtime:
                    due = max(due, started + message.received_at.timestamp() - started_wall)
                if duration is not None and due - started >= duration:
                    break
                if due > time.monotonic():
                    sender.flush()  # what is due goes out before waiting for the next one
                    time.sleep(max(0.0, due - time.monotonic()))
                sender.add(message.body)
                events += message.event_count
                bar.update(message.event_count)
            sender.flush()
    except (BotoCoreError, ClientError) as exc:
        raise PublishError(f"SQS queue {queue_url}: {_describe(exc)}") from exc
    return sender.sent
