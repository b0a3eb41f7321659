"""`nelo-ingest`: drain the queue into NELO_DATA_DIR, or rebuild bronze partitions from landing.

Usage and AWS configuration errors print one line and exit 2; queue errors print one line and
exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from typing import NoReturn

from nelo_assets.ingestion.bronze import rebuild_bronze_partitions
from nelo_assets.ingestion.drain import (
    DEFAULT_FLUSH_SIZE,
    DEFAULT_VISIBILITY_TIMEOUT,
    DEFAULT_WAIT_SECONDS,
    drain_queue,
)
from nelo_assets.ingestion.sqs import QueueConfigError, QueueError, queue_counts, sqs_client
from nelo_assets.settings import Settings, SettingsError
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.objects import LakeLocationError

PROG = "nelo-ingest"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds > 0")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD date") from None


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description=__doc__)
    parser.add_argument("--queue-url", help="queue to drain (default: $NELO_SQS_QUEUE_URL)")
    parser.add_argument("--max-messages", type=_positive_int, default=100_000)
    parser.add_argument("--max-seconds", type=_positive_float, default=600.0)
    parser.add_argument("--receivers", type=_positive_int, default=4)
    parser.add_argument("--flush-size", type=_positive_int, default=DEFAULT_FLUSH_SIZE)
    parser.add_argument(
        "--visibility-timeout", type=_positive_int, default=DEFAULT_VISIBILITY_TIMEOUT
    )
    parser.add_argument("--wait-seconds", type=int, choices=range(21), default=DEFAULT_WAIT_SECONDS)
    commands = parser.add_subparsers(dest="command")
    rebuild = commands.add_parser("rebuild-bronze", help="rebuild bronze partitions from landing")
    rebuild.add_argument("--from", dest="from_date", type=_iso_date, required=True)
    rebuild.add_argument("--to", dest="to_date", type=_iso_date, required=True)
    return parser


def _drain(args: argparse.Namespace, settings: Settings) -> int:
    queue_url = args.queue_url or settings.queue_url
    if not queue_url:
        raise _UsageError("no queue: pass --queue-url or set NELO_SQS_QUEUE_URL")
    # Fail in seconds if the queue is unusable.
    queue_counts(sqs_client(quick=True, queue_url=queue_url), queue_url)
    client = sqs_client(queue_url=queue_url)
    report = drain_queue(
        client,
        queue_url,
        Lake.from_settings(settings),
        settings,
        max_messages=args.max_messages,
        max_seconds=args.max_seconds,
        receivers=args.receivers,
        flush_size=args.flush_size,
        visibility_timeout=args.visibility_timeout,
        wait_seconds=args.wait_seconds,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(json.dumps(report.to_json()), flush=True)
    return 0


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    if args.to_date < args.from_date:
        raise _UsageError(f"--to {args.to_date} is before --from {args.from_date}")
    days = [
        args.from_date + timedelta(days=n) for n in range((args.to_date - args.from_date).days + 1)
    ]
    rows = rebuild_bronze_partitions(Lake.from_settings(settings), settings, days)
    for day, count in rows.items():
        print(f"bronze_events {day}: {count} rows", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        settings = Settings.from_env()
        if args.command == "rebuild-bronze":
            return _rebuild(args, settings)
        return _drain(args, settings)
    except (_UsageError, SettingsError, QueueConfigError, LakeLocationError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except QueueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
