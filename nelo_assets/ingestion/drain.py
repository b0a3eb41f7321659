"""Queue -> landing -> routing -> delete: the ingest run as plain functions (no Dagster here).

Each receiver thread long-polls, buffers up to `flush_size` messages, then flushes them: land the
bodies durably, route them into bronze and quarantine files, mark the batch routed, and only then
delete the messages from SQS (R1). A crash at any point leaves the messages in the queue; their
redelivery writes rows the bronze read model dedupes by message_id (R2).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from nelo_assets.ingestion.bronze import (
    RoutedBatch,
    mark_routed,
    record_unannounced,
    recover_unrouted,
    route_messages,
)
from nelo_assets.ingestion.landing import LandedMessage, write_landing_file
from nelo_assets.ingestion.sqs import QUEUE_ERRORS, QueueError, describe_error
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake

# Fault-injection seam for the kill tests (nelo_assets_tests/ingestion/test_ingest_faults.py and
# defs/test_crash_recovery.py): when this variable names a stage (or several, comma-separated),
# the process prints "PAUSED <stage>" and blocks there, so a test can SIGKILL it at exactly that
# point. Unset in production; it costs one dict lookup per flush.
PAUSE_ENV = "NELO_INGEST_PAUSE_AT"
PAUSE_STAGES = ("after_receive", "after_landing", "after_routing", "before_delete")

MAX_RECEIVE = 10  # SQS returns at most 10 messages a call
MAX_DELETE = 10  # and deletes at most 10 a batch call
# Messages per landing batch: larger means fewer files, smaller means fewer messages in flight
# (each moto receive scans them all; bench/bench_ingest.py measures it).
DEFAULT_FLUSH_SIZE = 100
# Seconds a received message stays hidden. It is also how long the messages a crashed ingest run
# had received stay invisible before the next run can take them (README, After a crash), so it is
# short; a live run keeps the messages it still holds hidden by renewing them (VisibilityKeeper),
# so a slow flush does not bring them back.
DEFAULT_VISIBILITY_TIMEOUT = 20
# Seconds a receiver holds a part-filled buffer before landing it: under light traffic a batch
# reaches bronze (and the marts) this soon, at the cost of smaller landing and bronze files
# (docs/decisions.md §15).
DEFAULT_MAX_BUFFER_SECONDS = 10
DEFAULT_WAIT_SECONDS = 2
RECEIVE_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]

Log = Callable[[str], None]

_PAUSE_PRINT = threading.Lock()


def pause_point(stage: str) -> None:
    if stage in os.environ.get(PAUSE_ENV, "").split(","):
        with _PAUSE_PRINT:  # print() writes text and newline apart: threads would interleave
            print(f"PAUSED {stage}", flush=True)
        threading.Event().wait()


def new_batch_id(received_at: datetime) -> str:
    """Sorts in receive order; the random tail keeps concurrent receivers apart."""
    return f"{received_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{uuid4().hex[:8]}"


@dataclass
class IngestReport:
    messages_received: int = 0
    messages_landed: int = 0
    events_routed: int = 0
    quarantined: int = 0
    events_by_date: dict[date, int] = field(default_factory=dict)
    landing_batches: list[str] = field(default_factory=list)
    deletes_failed: int = 0
    recovered_batches: list[str] = field(default_factory=list)
    max_queue_seconds: float = 0.0  # longest a message waited in SQS (SentTimestamp to receipt)

    @property
    def partitions_touched(self) -> list[date]:
        return sorted(self.events_by_date)

    def add(self, routed: RoutedBatch) -> None:
        self.events_routed += routed.events
        self.quarantined += routed.quarantined
        for event_date, rows in routed.rows_by_date.items():
            self.events_by_date[event_date] = self.events_by_date.get(event_date, 0) + rows

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["events_by_date"] = {d.isoformat(): n for d, n in sorted(self.events_by_date.items())}
        return data


@dataclass
class _Received:
    message_id: str
    receipt_handle: str
    received_at: datetime
    receive_count: int
    body: bytes


class VisibilityKeeper:
    """A heartbeat for the messages this run holds (received, not yet deleted).

    Every quarter of the timeout it extends those within half a timeout of coming back, so the
    timeout can be short (a dead run's messages return soon) without a slow flush letting a
    message return while its batch is still being landed. A renewal that fails only lets the
    message come back early: it is landed again and deduped (R2).
    """

    def __init__(self, client: Any, queue_url: str, timeout: int) -> None:
        self._client = client
        self._queue_url = queue_url
        self._timeout = timeout
        self._lock = threading.Lock()
        self._hidden_until: dict[str, float] = {}  # receipt handle -> monotonic time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nelo-visibility", daemon=True)

    def __enter__(self) -> VisibilityKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def hold(self, receipt_handles: list[str], received: float) -> None:
        with self._lock:
            for handle in receipt_handles:
                self._hidden_until[handle] = received + self._timeout

    def release(self, receipt_handles: list[str]) -> None:
        with self._lock:
            for handle in receipt_handles:
                self._hidden_until.pop(handle, None)

    def _run(self) -> None:
        while not self._stop.wait(self._timeout / 4):
            self.renew_due()

    def renew_due(self) -> None:
        """Extend every held message due within half a timeout."""
        now = time.monotonic()
        with self._lock:
            due = [h for h, until in self._hidden_until.items() if until - now < self._timeout / 2]
        for start in range(0, len(due), MAX_DELETE):
            chunk = due[start : start + MAX_DELETE]
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": self._timeout}
                for i, h in enumerate(chunk)
            ]
            try:
                response = self._client.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except QUEUE_ERRORS:
                continue
            failed = {entry["Id"] for entry in response.get("Failed", [])}
            with self._lock:
                for i, handle in enumerate(chunk):
                    if str(i) not in failed and handle in self._hidden_until:
                        self._hidden_until[handle] = now + self._timeout


class _Drain:
    """State shared by the receiver threads: the message and time budgets, and the report."""

    def __init__(self, max_messages: int, max_seconds: float) -> None:
        self.lock = threading.Lock()
        # moto server (the local demo's SQS) rebuilds its message list on delete without a lock,
        # so two concurrent deletes can bring a deleted message back. Deletes are cheap next to
        # receives; serialising them costs little on real SQS.
        self.delete_lock = threading.Lock()
        self.remaining = max_messages
        self.deadline = time.monotonic() + max_seconds
        self.report = IngestReport()

    def reserve(self) -> int:
        with self.lock:
            if self.remaining <= 0 or time.monotonic() >= self.deadline:
                return 0
            count = min(MAX_RECEIVE, self.remaining)
            self.remaining -= count
            return count

    def release(self, count: int) -> None:
        with self.lock:
            self.remaining += count

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


def delete_messages(client: Any, queue_url: str, receipt_handles: list[str]) -> int:
    """DeleteMessageBatch in tens; failed entries are retried once. Returns how many still failed.

    A message that could not be deleted comes back after its visibility timeout and is deduped.
    """
    failed = 0
    for start in range(0, len(receipt_handles), MAX_DELETE):
        chunk = receipt_handles[start : start + MAX_DELETE]
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)]
        for _attempt in range(2):
            try:
                response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            except QUEUE_ERRORS:
                continue
            failed_ids = {entry["Id"] for entry in response.get("Failed", [])}
            entries = [entry for entry in entries if entry["Id"] in failed_ids]
            if not entries:
                break
        failed += len(entries)
    return failed


def _flush(
    client: Any,
    queue_url: str,
    lake: Lake,
    settings: Settings,
    buffer: list[_Received],
    state: _Drain,
    keeper: VisibilityKeeper,
    log: Log,
) -> None:
    pause_point("after_receive")
    first = buffer[0].received_at
    batch_id = new_batch_id(first)
    landed = [LandedMessage(m.message_id, m.received_at, m.receive_count, m.body) for m in buffer]
    path = write_landing_file(lake.landing_dir, batch_id, landed, first.date())
    pause_point("after_landing")
    routed = route_messages(lake, settings, batch_id, first.date(), landed)
    pause_point("after_routing")
    mark_routed(path, routed)
    record_unannounced(lake, routed)
    pause_point("before_delete")
    handles = [m.receipt_handle for m in buffer]
    with state.delete_lock:
        failed = delete_messages(client, queue_url, handles)
    keeper.release(handles)  # an undeleted message comes back and is deduped (R2)
    with state.lock:
        state.report.add(routed)
        state.report.messages_landed += routed.messages
        state.report.landing_batches.append(batch_id)
        state.report.deletes_failed += failed
    log(
        f"batch {batch_id}: {routed.messages} messages, {routed.events} events to "
        f"{len(routed.event_dates)} partitions, {routed.quarantined} quarantined, "
        f"{failed} deletes failed"
    )


def _receive(
    client: Any,
    queue_url: str,
    lake: Lake,
    settings: Settings,
    state: _Drain,
    keeper: VisibilityKeeper,
    *,
    flush_size: int,
    visibility_timeout: int,
    wait_seconds: int,
    max_buffer_seconds: float,
    log: Log,
) -> None:
    buffer: list[_Received] = []
    try:
        while (count := state.reserve()) > 0:
            started = time.monotonic()  # the messages are hidden from about here
            response = client.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=max(0, min(wait_seconds, int(state.seconds_left()))),
                VisibilityTimeout=visibility_timeout,
                AttributeNames=RECEIVE_ATTRIBUTES,
            )
            received_at = datetime.now(UTC)
            messages = response.get("Messages", [])
            keeper.hold([m["ReceiptHandle"] for m in messages], started)
            state.release(count - len(messages))
            waited = [
                received_at.timestamp() - int(m["Attributes"]["SentTimestamp"]) / 1000
                for m in messages
                if "SentTimestamp" in m.get("Attributes", {})
            ]
            with state.lock:
                state.report.messages_received += len(messages)
                state.report.max_queue_seconds = max([state.report.max_queue_seconds, *waited])
            buffer.extend(
                _Received(
                    message_id=m["MessageId"],
                    receipt_handle=m["ReceiptHandle"],
                    received_at=received_at,
                    receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                    body=m["Body"].encode("utf-8"),
                )
                for m in messages
            )
            if not messages:
                break  # the queue is empty (for this long poll)
            age = (received_at - buffer[0].received_at).total_seconds()
            if len(buffer) >= flush_size or age >= max_buffer_seconds:
                _flush(client, queue_url, lake, settings, buffer, state, keeper, log)
                buffer = []
    finally:
        # What was received is landed even when a later receive fails (fewer redeliveries).
        if buffer:
            _flush(client, queue_url, lake, settings, buffer, state, keeper, log)


def drain_queue(
    client: Any,
    queue_url: str,
    lake: Lake,
    settings: Settings,
    *,
    max_messages: int,
    max_seconds: float,
    receivers: int = 4,
    flush_size: int = DEFAULT_FLUSH_SIZE,
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    max_buffer_seconds: float = DEFAULT_MAX_BUFFER_SECONDS,
    log: Log | None = None,
) -> IngestReport:
    """Receive until the queue is empty or a budget is spent; land, route, then delete.

    The receivers share `client`: botocore clients are thread-safe (sessions are not, and none
    is created here). Raises QueueError with a one-line message when the queue cannot be used.
    """
    log = log or (lambda _line: None)
    state = _Drain(max_messages, max_seconds)
    recovered = recover_unrouted(lake, settings)
    for routed in recovered:
        record_unannounced(lake, routed)
        state.report.add(routed)
        state.report.recovered_batches.append(routed.batch_id)
        log(f"recovered unrouted landing batch {routed.batch_id}")
    with (
        VisibilityKeeper(client, queue_url, visibility_timeout) as keeper,
        ThreadPoolExecutor(max_workers=receivers, thread_name_prefix="nelo-receive") as pool,
    ):
        futures = [
            pool.submit(
                _receive,
                client,
                queue_url,
                lake,
                settings,
                state,
                keeper,
                flush_size=flush_size,
                visibility_timeout=visibility_timeout,
                wait_seconds=wait_seconds,
                max_buffer_seconds=max_buffer_seconds,
                log=log,
            )
            for _ in range(receivers)
        ]
        errors = [f.exception() for f in futures if f.exception() is not None]
    for error in errors:
        if isinstance(error, QUEUE_ERRORS):
            raise QueueError(f"SQS queue {queue_url}: {describe_error(error)}") from error
        raise error
    state.report.landing_batches.sort()
    return state.report
