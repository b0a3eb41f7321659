"""Ingest throughput: drain_queue against a plain receive-write-delete loop, on a local moto server.

moto runs in a child process, so the CPU time measured here is the consumer's alone. Every
consumer starts from the same queue depth: moto's receive costs time in proportion to the
messages the queue holds, in flight included, so the drain is also run with the naive loop's
in-flight count (flush every receive) to tell the server's cost from ours.
Run: .venv/bin/python bench/bench_ingest.py [messages [receivers [flush_size]]]
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from nelo_assets.ingestion.bronze import route_messages
from nelo_assets.ingestion.drain import (
    DEFAULT_FLUSH_SIZE,
    MAX_RECEIVE,
    IngestReport,
    drain_queue,
)
from nelo_assets.ingestion.landing import iter_landing_files, read_landing_file, write_landing_file
from nelo_assets.ingestion.sqs import sqs_client
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake

REGION = "us-east-1"


def _serve(port: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    threading.Event().wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"moto server did not listen on port {port}")


def _bodies(messages: int, now: datetime) -> list[str]:
    """App-like traffic: mostly single events with items, every fifth a batch of five."""
    bodies = []
    for n in range(messages):
        event = {
            "event_id": f"bench-{n}",
            "event_name": "view_item_list",
            "event_timestamp": (now - timedelta(minutes=n % 600)).isoformat(),
            "user_id": f"user-{n % 97}",
            "platform": "ANDROID",
            "event_params": {"item_list_name": "home", "currency": "MXN"},
            "items": [{"item_id": f"sku-{i}", "price": 99.5, "index": i} for i in range(4)],
        }
        if n % 5 == 0:
            batch = [{**event, "event_id": f"bench-{n}-{i}"} for i in range(5)]
            bodies.append(json.dumps({"events": batch}))
        else:
            bodies.append(json.dumps(event))
    return bodies


def _fill(client: Any, queue_url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
        ]
        client.send_message_batch(QueueUrl=queue_url, Entries=entries)


def _naive(client: Any, queue_url: str, out_dir: Path) -> int:
    """What a first version would do: one thread, write each body to a file, then delete."""
    done = 0
    while True:
        messages = client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        if not messages:
            return done
        for m in messages:
            (out_dir / f"{m['MessageId']}.json").write_text(m["Body"])
        client.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        done += len(messages)


def _receive_seconds(client: Any, name: str, bodies: list[str]) -> float:
    """Wall time of one receive of ten from a queue holding `bodies`: the server's own cost."""
    queue_url = client.create_queue(QueueName=name)["QueueUrl"]
    _fill(client, queue_url, bodies)
    started = time.perf_counter()
    client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=MAX_RECEIVE)
    elapsed = time.perf_counter() - started
    client.delete_queue(QueueUrl=queue_url)
    return elapsed


class _Drained(NamedTuple):
    report: IngestReport
    wall_s: float
    cpu_s: float
    lake: Lake
    settings: Settings


def _drain(client: Any, name: str, root: Path, bodies: list[str], **options: Any) -> _Drained:
    """drain_queue over a fresh queue holding `bodies`, into a lake of its own."""
    queue_url = client.create_queue(QueueName=name)["QueueUrl"]
    _fill(client, queue_url, bodies)
    settings = Settings.from_env({"NELO_DATA_DIR": str(root), "NELO_START_DATE": "2020-01-01"})
    lake = Lake(settings.data_dir)
    wall, cpu = time.perf_counter(), time.process_time()
    report = drain_queue(
        client,
        queue_url,
        lake,
        settings,
        max_messages=len(bodies),
        max_seconds=600,
        wait_seconds=1,  # the same final empty poll as the naive loop
        **options,
    )
    return _Drained(report, time.perf_counter() - wall, time.process_time() - cpu, lake, settings)


def _own_cpu(lake: Lake, settings: Settings, scratch: Lake) -> tuple[float, int]:
    """CPU seconds to land and route again everything drained: our code, no network, no botocore."""
    batches = [(p, list(read_landing_file(p))) for p in iter_landing_files(lake.landing_dir)]
    started = time.process_time()
    for path, messages in batches:
        batch_id = path.name.removesuffix(".jsonl.gz")
        received = messages[0].received_at.date()
        write_landing_file(scratch.landing_dir, batch_id, messages, received)
        route_messages(scratch, settings, batch_id, received, messages)
    return time.process_time() - started, sum(len(m) for _, m in batches)


def run(
    messages: int = 2000, receivers: int = 4, flush_size: int = DEFAULT_FLUSH_SIZE
) -> dict[str, float]:
    port = _free_port()
    # spawn, not fork: this process has already started Polars' and DuckDB's thread pools.
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    try:
        _wait_listening(port)
        client = sqs_client(
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        with tempfile.TemporaryDirectory(prefix="nelo-bench-") as tmp:
            root = Path(tmp)
            bodies = _bodies(messages, datetime.now(UTC))
            depth_small = max(MAX_RECEIVE, messages // 5)
            receive_small = _receive_seconds(client, "bench-depth-small", bodies[:depth_small])
            receive_full = _receive_seconds(client, "bench-depth-full", bodies)
            ingest = _drain(
                client,
                "bench-ingest",
                root / "data",
                bodies,
                receivers=receivers,
                flush_size=flush_size,
            )
            # The naive loop's in-flight count: one receive of ten, landed and deleted.
            flush_10 = _drain(
                client,
                "bench-ingest-flush-10",
                root / "flush-10",
                bodies,
                receivers=receivers,
                flush_size=MAX_RECEIVE,
            )

            naive_url = client.create_queue(QueueName="bench-naive")["QueueUrl"]
            _fill(client, naive_url, bodies)
            out_dir = root / "naive"
            out_dir.mkdir()
            wall = time.perf_counter()
            naive_done = _naive(client, naive_url, out_dir)
            naive_wall = time.perf_counter() - wall

            own_cpu, own_messages = _own_cpu(ingest.lake, ingest.settings, Lake(root / "scratch"))
    finally:
        server.kill()
        server.join()
    report = ingest.report
    ingest_rate = report.messages_received / ingest.wall_s
    flush_10_rate = flush_10.report.messages_received / flush_10.wall_s
    naive_rate = naive_done / naive_wall
    return {
        "messages": messages,
        "receivers": receivers,
        "flush_size": flush_size,
        "ingest_messages": report.messages_received,
        "ingest_events": report.events_routed,
        "ingest_msgs_per_s": round(ingest_rate, 1),
        "naive_msgs_per_s": round(naive_rate, 1),
        "ingest_vs_naive": round(ingest_rate / naive_rate, 2),
        "ingest_flush_10_msgs_per_s": round(flush_10_rate, 1),
        "ingest_flush_10_vs_naive": round(flush_10_rate / naive_rate, 2),
        "small_queue_messages": depth_small,
        "moto_receive_s_small_queue": round(receive_small, 3),
        "moto_receive_s_full_queue": round(receive_full, 3),
        "ingest_cpu_s_per_msg": round(ingest.cpu_s / report.messages_received, 6),
        "own_code_cpu_s_per_msg": round(own_cpu / own_messages, 6),
    }


if __name__ == "__main__":
    print(json.dumps(run(*(int(arg) for arg in sys.argv[1:])), indent=2))
