"""`nelo-simulate`: realistic, seeded Nelo app traffic, into the landing archive or an SQS queue.

The generation itself lives in `nelo_assets.simulation`; this module is its public face (the
API other modules and tests import) and the command line.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nelo_assets.settings import Settings, SettingsError
from nelo_assets.simulation.config import MIN_PRODUCTS, SimulatedMessage, SimulationConfig
from nelo_assets.simulation.outputs import (
    ArchiveSummary,
    PublishError,
    publish_to_sqs,
    write_archive,
)
from nelo_assets.simulation.stream import generate_messages

__all__ = [
    "ArchiveSummary",
    "PublishError",
    "SimulatedMessage",
    "SimulationConfig",
    "generate_messages",
    "main",
    "publish_to_sqs",
    "write_archive",
]

PROG = "nelo-simulate"
DEFAULTS = SimulationConfig()
ARCHIVE_DAYS = 7
SQS_DAYS = 1
LIVE_DAYS = 36_500  # live traffic runs until stopped


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"not a known time zone: {text!r}") from None
    return text


def _traffic_options(settings: Settings) -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    group = common.add_argument_group("traffic")
    group.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS.seed,
        help="random seed; the same seed and options give the same bytes (default: %(default)s)",
    )
    group.add_argument(
        "--start",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help=f"first simulated day (default: archive: NELO_START_DATE, now {settings.start_date}; sqs: live traffic from now)",
    )
    group.add_argument(
        "--days",
        type=_whole(1),
        metavar="N",
        help=f"number of simulated days (default: {ARCHIVE_DAYS} for archive, {SQS_DAYS} for sqs --start)",
    )
    group.add_argument(
        "--events-per-day",
        type=_whole(1),
        default=DEFAULTS.events_per_day,
        metavar="N",
        help="app events per simulated day, before duplicates (default: %(default)s)",
    )
    group.add_argument(
        "--users",
        type=_whole(1),
        metavar="N",
        help="number of users (default: one per 20 events a day, 1000 to 100000)",
    )
    group.add_argument(
        "--products",
        type=_whole(MIN_PRODUCTS),
        default=DEFAULTS.products,
        metavar="N",
        help="catalogue size (default: %(default)s)",
    )
    group.add_argument(
        "--timezone",
        type=_zone,
        default=settings.timezone,
        help="business time zone of the daily rhythm (default: NELO_TIMEZONE, now %(default)s)",
    )
    faults = common.add_argument_group("delivery and faults (each a probability per message, 0..1)")
    faults.add_argument(
        "--duplicate-rate",
        type=_fraction,
        default=DEFAULTS.duplicate_rate,
        metavar="P",
        help="sent twice: an app retry (new message id) or a queue redelivery (same id, archive only) (default: %(default)s)",
    )
    faults.add_argument(
        "--late-rate",
        type=_fraction,
        default=DEFAULTS.late_rate,
        metavar="P",
        help="uploaded minutes to days after the events happened (default: %(default)s)",
    )
    faults.add_argument(
        "--malformed-rate",
        type=_fraction,
        default=DEFAULTS.malformed_rate,
        metavar="P",
        help="broken on purpose, each fault giving one reason code of docs/events.md (default: %(default)s)",
    )
    faults.add_argument(
        "--batch-rate",
        type=_fraction,
        default=DEFAULTS.batch_rate,
        metavar="P",
        help='uploaded as a {"events": [...]} batch of 1-20 events rather than a single event (default: %(default)s)',
    )
    common.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return common


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Realistic, seeded Nelo app traffic (iOS, Android, web): sessions on a daily "
        "rhythm, item-list funnels, every wire form of docs/events.md, duplicates, late uploads and "
        "malformed messages of every reason code.",
        epilog="examples:\n"
        "  nelo-simulate archive --out data/landing --start 2026-01-01 --days 14\n"
        "  nelo-simulate sqs --queue-url URL --rate 5          (live traffic until Ctrl-C)\n"
        "  nelo-simulate sqs --start 2026-01-01 --events 1000  (a day's start, fast)\n"
        "Each command has its own --help.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{archive,sqs}")
    common = _traffic_options(settings)
    archive = commands.add_parser(
        "archive",
        parents=[common],
        help="write the landing archive directly, as if ingested",
        description="Write simulated days into a landing archive (gzip JSONL batches under "
        "DIR/YYYY/MM/DD), with simulated receive times, as if the ingest run had landed them.",
    )
    archive.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="landing directory, e.g. $NELO_DATA_DIR/landing (required)",
    )
    archive.add_argument(
        "--batch-size",
        type=_whole(1),
        default=5000,
        metavar="N",
        help="messages per landing file (default: %(default)s)",
    )
    sqs = commands.add_parser(
        "sqs",
        parents=[common],
        help="send to an SQS queue (live traffic, or simulated days with --start)",
        description="Send simulated traffic to an SQS queue through the standard AWS chain "
        "(AWS_ENDPOINT_URL_SQS, AWS_REGION, ...). Without --start: live traffic stamped with the "
        "current time, each message sent at its simulated receive time, until --duration, "
        "--events or Ctrl-C. With --start: those days, as fast as --rate allows.",
    )
    sqs.add_argument(
        "--queue-url",
        default=os.environ.get("NELO_SQS_QUEUE_URL"),
        metavar="URL",
        help="queue to send to (default: NELO_SQS_QUEUE_URL, now %(default)s)",
    )
    sqs.add_argument(
        "--rate",
        type=_positive,
        metavar="EVENTS_PER_S",
        help="live: average events per second over a day (replaces --events-per-day); with --start: the most events per second to send (default: no limit)",
    )
    stop = sqs.add_mutually_exclusive_group()
    stop.add_argument(
        "--duration",
        type=_positive,
        metavar="S",
        help="stop after S seconds (default: run to the end)",
    )
    stop.add_argument(
        "--events",
        type=_whole(1),
        metavar="N",
        help="stop after N events (default: run to the end)",
    )
    return parser


def _progress(args: argparse.Namespace) -> bool:
    # A bar only where someone watches it: not in log files.
    return not args.no_progress and sys.stderr.isatty()


def _config(args: argparse.Namespace, **overrides: object) -> SimulationConfig:
    fields = {
        "seed": args.seed,
        "start": args.start,
        "days": args.days,
        "events_per_day": args.events_per_day,
        "users": args.users,
        "products": args.products,
        "timezone": args.timezone,
        "duplicate_rate": args.duplicate_rate,
        "late_rate": args.late_rate,
        "malformed_rate": args.malformed_rate,
        "batch_rate": args.batch_rate,
    }
    return SimulationConfig(**(fields | overrides))  # type: ignore[arg-type]


def _archive(args: argparse.Namespace, settings: Settings) -> int:
    config = _config(args, start=args.start or settings.start_date, days=args.days or ARCHIVE_DAYS)
    summary = write_archive(config, args.out, batch_size=args.batch_size, progress=_progress(args))
    print(f"wrote {summary} under {args.out}")
    return 0


def _sqs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.queue_url:
        parser.error("sqs needs --queue-url or NELO_SQS_QUEUE_URL")
    if args.start is not None:
        config = _config(args, days=args.days or SQS_DAYS, transport="sqs")
        realtime, rate = False, args.rate
    else:
        # Live: the simulated clock is the wall clock, from now on.
        now = datetime.now(UTC)
        per_day = round(args.rate * 86_400) if args.rate else args.events_per_day
        days = math.ceil(args.duration / 86_400) + 1 if args.duration else LIVE_DAYS
        today = now.astimezone(ZoneInfo(args.timezone)).date()
        config = _config(
            args, start=today, days=days, events_per_day=max(1, per_day), begin=now, transport="sqs"
        )
        realtime, rate = True, None
    sent = publish_to_sqs(
        config,
        args.queue_url,
        rate=rate,
        realtime=realtime,
        max_events=args.events,
        duration=args.duration,
        progress=_progress(args),
    )
    print(f"sent {sent} messages to {args.queue_url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    try:
        if args.command == "archive":
            return _archive(args, settings)
        return _sqs(args, parser)
    except PublishError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"{PROG}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
