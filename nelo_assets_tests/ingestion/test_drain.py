"""Ingestion end to end over a real (moto) SQS server: every message lands once, nothing is lost."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from dagster import DagsterInstance

from nelo_assets.defs.jobs import ingest_job
from nelo_assets.defs.resources import LakeResource
from nelo_assets.ingestion.bronze import read_bronze, route_messages
from nelo_assets.ingestion.cli import main
from nelo_assets.ingestion.drain import VisibilityKeeper, delete_messages, drain_queue
from nelo_assets.ingestion.landing import (
    LandedMessage,
    iter_landing_files,
    read_landing_file,
    write_landing_file,
)
from nelo_assets.ingestion.sqs import ensure_queue
from nelo_assets_tests.environment import BOTH_LAKES
from nelo_assets_tests.queue_lake import QueueLake
from nelo_assets_tests.traffic import assert_exactly_once, traffic


def _days(now: datetime) -> list[date]:
    today = now.date()
    return [today - timedelta(days=offset) for offset in (2, 9, 40)]


def _drain(q: QueueLake, **overrides: object):
    options = {"max_messages": 10_000, "max_seconds": 60, "wait_seconds": 1, **overrides}
    return drain_queue(q.client, q.queue_url, q.lake, q.settings, **options)


@BOTH_LAKES
def test_every_message_lands_once_in_bronze_or_quarantine(queue_lake: QueueLake) -> None:
    now = datetime.now(UTC)
    sent = traffic(160, _days(now), now)
    message_ids = queue_lake.send([s.body for s in sent])

    report = _drain(queue_lake, flush_size=40)

    assert_exactly_once(queue_lake.lake, sent, message_ids)
    assert queue_lake.counts() == (0, 0), report
    # At least once: concurrent receivers may both get a message; bronze holds it once anyway.
    assert report.messages_received == report.messages_landed >= len(sent)
    assert report.partitions_touched == sorted(_days(now))
    # Routed rows count every receipt landed, a duplicate delivery included (bronze dedupes).
    receipts = Counter(
        m.message_id
        for path in iter_landing_files(queue_lake.lake.landing_dir)
        for m in read_landing_file(path)
    )
    by_id = dict(zip(message_ids, sent, strict=True))
    assert report.events_routed == sum(len(by_id[m].bronze) * n for m, n in receipts.items())
    assert report.quarantined == sum(len(by_id[m].quarantine) * n for m, n in receipts.items())
    assert report.deletes_failed == 0
    # The landing archive holds every body byte for byte.
    landed = {
        m.message_id: m.body
        for path in iter_landing_files(queue_lake.lake.landing_dir)
        for m in read_landing_file(path)
    }
    assert report.landing_batches == sorted(
        p.name.removesuffix(".jsonl.gz") for p in iter_landing_files(queue_lake.lake.landing_dir)
    )
    assert landed == {mid: s.body.encode() for s, mid in zip(sent, message_ids, strict=True)}
    # A single-event body is kept unchanged in bronze.
    bronze = read_bronze(queue_lake.lake, _days(now))
    raw = {(r["message_id"], r["batch_index"]): r["raw"] for r in bronze.iter_rows(named=True)}
    assert raw[(message_ids[0], 0)] == sent[0].body


def test_message_budget_stops_the_drain(queue_lake: QueueLake) -> None:
    now = datetime.now(UTC)
    bodies = [s.body for s in traffic(30, _days(now), now)]
    queue_lake.send(bodies)

    report = _drain(queue_lake, max_messages=12, receivers=3)

    assert report.messages_received == 12
    # At least once: two receivers may both get one message, which then counts twice.
    landed_ids = {
        m.message_id
        for path in iter_landing_files(queue_lake.lake.landing_dir)
        for m in read_landing_file(path)
    }
    assert 0 < len(landed_ids) <= 12
    assert queue_lake.counts() == (len(bodies) - len(landed_ids), 0)


def test_redelivered_message_does_not_duplicate_rows(queue_lake: QueueLake) -> None:
    now = datetime.now(UTC)
    sent = traffic(20, _days(now), now)
    message_ids = queue_lake.send([s.body for s in sent])
    # A consumer lands and routes everything, then dies before deleting anything.
    first_receipt: dict[str, datetime] = {}
    landed: list[LandedMessage] = []
    while len(first_receipt) < len(sent):
        response = queue_lake.client.receive_message(
            QueueUrl=queue_lake.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=2
        )
        received_at = datetime.now(UTC)
        for m in response.get("Messages", []):
            # A slow loop may see a message twice: the earliest receipt is the one to keep.
            if m["MessageId"] not in first_receipt:
                first_receipt[m["MessageId"]] = received_at
                landed.append(LandedMessage(m["MessageId"], received_at, 1, m["Body"].encode()))
    batch = "20000101T000000000000Z-dead0000"
    write_landing_file(queue_lake.lake.landing_dir, batch, landed, received_at.date())
    route_messages(queue_lake.lake, queue_lake.settings, batch, received_at.date(), landed)

    deadline = time.monotonic() + 20
    while queue_lake.counts()[0] < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling SQS for the visibility timeout to pass
    report = _drain(queue_lake)

    assert report.messages_received >= len(sent)
    assert_exactly_once(queue_lake.lake, sent, message_ids)
    assert queue_lake.counts() == (0, 0)
    bronze = read_bronze(queue_lake.lake, _days(now))
    # The earliest recorded receipt wins.
    for row in bronze.iter_rows(named=True):
        assert row["received_at"] == first_receipt[row["message_id"]]
        assert row["receive_count"] == 1


def test_ingest_job_reports_exactly_the_touched_partitions(queue_lake: QueueLake) -> None:
    now = datetime.now(UTC)
    days = _days(now)[:2]
    sent = traffic(12, days, now)
    queue_lake.send([s.body for s in sent])
    expected = {d.isoformat() for s in sent for d in s.bronze.values()}

    result = ingest_job.execute_in_process(
        resources={"lake": LakeResource.from_settings(queue_lake.settings), "sqs": queue_lake.sqs},
        instance=DagsterInstance.ephemeral(),
        run_config={"ops": {"ingest_from_sqs": {"config": {"wait_seconds": 1}}}},
    )

    assert result.success
    materializations = result.asset_materializations_for_node("ingest_from_sqs")
    bronze = [
        m.partition for m in materializations if m.asset_key.to_user_string() == "bronze_events"
    ]
    assert sorted(bronze) == sorted(expected)
    assert [m.asset_key.to_user_string() for m in materializations].count("quarantine") == 1
    assert queue_lake.counts() == (0, 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-messages", "0"],
        ["--receivers", "many"],
        ["--bogus"],
        ["rebuild-bronze", "--from", "2026-02-30", "--to", "2026-03-01"],
        ["rebuild-bronze", "--from", "2026-03-02", "--to", "2026-03-01"],
    ],
)
def test_cli_usage_errors_are_one_line_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nelo-ingest: error:")


def test_cli_missing_queue_is_one_line_exit_1(
    queue_lake: QueueLake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NELO_DATA_DIR", str(queue_lake.settings.data_dir))
    missing = queue_lake.queue_url + "-missing"

    assert main(["--queue-url", missing, "--wait-seconds", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NonExistentQueue" in err and "Traceback" not in err


def test_cli_drains_then_rebuilds(
    queue_lake: QueueLake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NELO_DATA_DIR", str(queue_lake.settings.data_dir))
    monkeypatch.setenv("NELO_START_DATE", queue_lake.settings.start_date.isoformat())
    monkeypatch.setenv("NELO_SQS_QUEUE_URL", queue_lake.queue_url)
    now = datetime.now(UTC)
    sent = traffic(16, _days(now), now)
    message_ids = queue_lake.send([s.body for s in sent])

    assert main(["--wait-seconds", "1", "--receivers", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    # At least once: both receivers may get one message (moto's receive, like SQS, allows it).
    assert report["messages_received"] == report["messages_landed"] >= len(sent)
    assert report["deletes_failed"] == 0
    assert queue_lake.counts() == (0, 0)

    first, last = min(_days(now)), max(_days(now))
    assert main(["rebuild-bronze", "--from", str(first), "--to", str(last)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == (last - first).days + 1
    assert_exactly_once(queue_lake.lake, sent, message_ids)


def test_failed_deletes_are_counted_and_the_rest_deleted(queue_lake: QueueLake) -> None:
    queue_lake.send(["{}"] * 3)
    response = queue_lake.client.receive_message(
        QueueUrl=queue_lake.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
    )
    handles = [m["ReceiptHandle"] for m in response["Messages"]]
    assert len(handles) == 3

    failed = delete_messages(queue_lake.client, queue_lake.queue_url, ["not-a-handle", *handles])

    assert failed == 1
    assert queue_lake.counts() == (0, 0)


def test_ensure_queue_is_idempotent_and_sets_the_redrive(queue_lake: QueueLake) -> None:
    name = queue_lake.queue_url.rsplit("/", 1)[1]

    again = ensure_queue(queue_lake.client, name, max_receive_count=5)

    assert again == queue_lake.queue_url
    attributes = queue_lake.client.get_queue_attributes(
        QueueUrl=again, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    dlq_arn = queue_lake.client.get_queue_attributes(
        QueueUrl=queue_lake.dlq_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 5,
    }


def test_held_messages_stay_hidden_until_released_then_return_within_the_timeout(
    queue_lake: QueueLake,
) -> None:
    """The heartbeat lets the timeout be short: held messages stay hidden past it while a
    run holds them, and a run that stops holding them (dies) lets them back within it."""
    timeout = 2
    queue_lake.send([s.body for s in traffic(5, _days(datetime.now(UTC)), datetime.now(UTC))])
    received_at = time.monotonic()
    messages = queue_lake.client.receive_message(
        QueueUrl=queue_lake.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=timeout
    )["Messages"]
    handles = [m["ReceiptHandle"] for m in messages]

    with VisibilityKeeper(queue_lake.client, queue_lake.queue_url, timeout) as keeper:
        keeper.hold(handles, received_at)
        time.sleep(3 * timeout)  # three timeouts: without renewals they would be back
        assert queue_lake.counts() == (0, len(messages))
        keeper.release(handles)  # as a dead run would: nobody renews them any more
        released_at = time.monotonic()

    while queue_lake.counts()[0] < len(messages):
        assert time.monotonic() - released_at < timeout + 3, queue_lake.counts()
        time.sleep(0.1)
