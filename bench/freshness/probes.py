"""Probe events: sent to the queue, polled for in the marts as a reader sees them, and their
receipt read back from bronze."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import duckdb

from bench.freshness.plan import (
    MARTS,
    POLL_SECONDS,
    Plan,
)
from bench.freshness.stack import System


@dataclass
class Probe:
    row: str  # "live" or "late"
    name: str  # its item_list_name, also its item's item_id
    event_date: date | None = None
    sent_at: float | None = None
    message_id: str | None = None
    # Per mart: when the last poll that did not see it began, and when one first did.
    last_miss: dict[str, float] = field(default_factory=dict)
    seen_at: dict[str, float] = field(default_factory=dict)
    round: int = 0  # the bench's round that sent it (plan.rounds)

    def latency(self, mart: str) -> float | None:
        seen = self.seen_at.get(mart)
        return None if seen is None or self.sent_at is None else seen - self.sent_at


def _probe_body(probe: Probe, moment: datetime) -> str:
    """A contract-valid `view_item_list` event (docs/events.md) with the probe's list and item."""
    return json.dumps(
        {
            "event_id": str(uuid4()),
            "event_name": "view_item_list",
            "event_timestamp": moment.astimezone(UTC).isoformat(timespec="milliseconds"),
            "user_id": "bench-freshness",
            "platform": "IOS",
            "app_version": "bench",
            "event_params": {
                "item_list_id": probe.name,
                "item_list_name": probe.name,
                "currency": "MXN",
            },
            "items": [
                {
                    "item_id": probe.name,
                    "item_name": "freshness probe",
                    "price": 1.0,
                    "index": 0,
                    "item_list_name": probe.name,
                }
            ],
        }
    )


def _send(system: System, probe: Probe, days_back: int) -> None:
    moment = datetime.now(UTC) - timedelta(days=days_back)
    body = _probe_body(probe, moment)
    probe.event_date = moment.astimezone(system.settings.tz).date()
    probe.sent_at = time.time()
    sent = system.sqs.send_message(QueueUrl=system.queue_url, MessageBody=body)
    probe.message_id = sent["MessageId"]
    for mart in MARTS:
        probe.last_miss[mart] = probe.sent_at


def _visible(duckdb_path: Path, prefix: str) -> dict[str, set[str]]:
    """The probe names each mart shows a reader now: a fresh read-only connection per poll."""
    pattern = f"{prefix}%"
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return {
            "mart_item_list_daily": {
                row[0]
                for row in con.execute(
                    "select item_list_name from mart_item_list_daily where item_list_name like ?",
                    [pattern],
                ).fetchall()
            },
            "mart_product_daily": {
                row[0]
                for row in con.execute(
                    "select item_id from mart_product_daily where item_id like ?", [pattern]
                ).fetchall()
            },
        }


def measure_probes(
    plan: Plan, system: System, duckdb_path: Path, prefix: str, deadline: float, round_: int = 0
) -> list[Probe]:
    """Send round `round_`'s live row, then its late row, polling the marts every POLL_SECONDS
    until every probe is in both marts or its row's arrival deadline passes (or, once all are
    sent, `deadline`)."""
    live = [Probe("live", f"{prefix}live-{n:02d}", round=round_) for n in range(plan.live_probes)]
    # The late row follows the last round's live row only: its rebuilds of the days after it
    # would hold a later round's live probes back, and rows of it cost time `make bench` lacks.
    late_probes = plan.late_probes if round_ == plan.rounds - 1 else 0
    late = [Probe("late", f"{prefix}late-{n:02d}", round=round_) for n in range(late_probes)]
    probes = live + late
    first_send = time.time()
    late_start: float | None = None

    def arrived(row: Sequence[Probe]) -> bool:
        return all(len(p.seen_at) == len(MARTS) for p in row)

    while True:
        now = time.time()
        for n, probe in enumerate(live):
            if probe.sent_at is None and now >= first_send + n * plan.probe_interval_s:
                _send(system, probe, 0)
        last_live = live[-1].sent_at if live else first_send
        if (
            late
            and late_start is None
            and last_live is not None
            and (arrived(live) or now >= last_live + plan.late_after_s)
        ):
            late_start = now
        if late_start is not None:
            for n, probe in enumerate(late):
                if probe.sent_at is None and now >= late_start + n * plan.probe_interval_s:
                    _send(system, probe, plan.late_days_back)
        polled = time.time()
        try:
            visible = _visible(duckdb_path, prefix)
        except duckdb.Error:
            visible = {}  # the file is being replaced: this poll saw nothing new
        for probe in probes:
            if probe.sent_at is None:
                continue
            for mart in MARTS:
                if mart in probe.seen_at:
                    continue
                if probe.name in visible.get(mart, ()):
                    probe.seen_at[mart] = time.time()
                else:
                    probe.last_miss[mart] = polled
        rows_done = [
            arrived(row) or (row[-1].sent_at or now) + plan.arrival_deadline_s < now
            for row in (live, late)
            if row
        ]
        all_sent = all(p.sent_at is not None for p in probes)
        if all_sent and (all(rows_done) or now > deadline):
            return probes
        time.sleep(max(0.0, polled + POLL_SECONDS - time.time()))


def received_at(duckdb_path: Path, probes: Sequence[Probe]) -> dict[str, float]:
    """message id -> when the ingest run received it from SQS (bronze keeps it per event)."""
    ids = [p.message_id for p in probes if p.message_id]
    if not ids:
        return {}
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        rows = con.execute(
            "select message_id, min(received_at) from bronze_events "
            "where message_id in (select unnest(?)) group by message_id",
            [ids],
        ).fetchall()
    return {message_id: received.timestamp() for message_id, received in rows}
