"""The landing archive: every message body byte for byte, append-only, one gzip JSONL file a batch.

A line is {"message_id", "received_at" (ISO-8601 UTC), "receive_count", and either "body" (the
body as text) or "body_base64" (when the bytes are not valid UTF-8)}. Files live under
landing/YYYY/MM/DD/<batch_id>.jsonl.gz by UTC receive date and are never rewritten.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from nelo_assets.storage.lake import LakePath, atomic_path

SUFFIX = ".jsonl.gz"


@dataclass(frozen=True)
class LandedMessage:
    message_id: str
    received_at: datetime  # timezone-aware, UTC
    receive_count: int
    body: bytes


def _encode(message: LandedMessage) -> str:
    record: dict[str, object] = {
        "message_id": message.message_id,
        "received_at": message.received_at.astimezone(UTC).isoformat(),
        "receive_count": message.receive_count,
    }
    try:
        record["body"] = message.body.decode("utf-8")
    except UnicodeDecodeError:
        record["body_base64"] = base64.b64encode(message.body).decode("ascii")
    return json.dumps(record, ensure_ascii=False)


def _decode(line: str) -> LandedMessage:
    record = json.loads(line)
    if "body" in record:
        body = record["body"].encode("utf-8")
    else:
        body = base64.b64decode(record["body_base64"])
    return LandedMessage(
        message_id=record["message_id"],
        received_at=datetime.fromisoformat(record["received_at"]),
        receive_count=int(record["receive_count"]),
        body=body,
    )


def landing_file_path(landing_dir: LakePath, received_date: date, batch_id: str) -> LakePath:
    return landing_dir / f"{received_date:%Y/%m/%d}" / f"{batch_id}{SUFFIX}"


def write_landing_file(
    landing_dir: LakePath, batch_id: str, messages: Iterable[LandedMessage], received_date: date
) -> LakePath:
    """Write one batch durably (a local file: flush, fsync, rename; an object: one upload that
    has completed when this returns); return its final path."""
    final_path = landing_file_path(landing_dir, received_date, batch_id)
    # No file name and mtime=0 in the gzip header: identical input gives an identical file.
    # Level 6 is much faster than the default 9 for a few percent more bytes.
    with (
        atomic_path(final_path) as tmp_path,
        open(tmp_path, "wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz,
    ):
        for message in messages:
            gz.write(_encode(message).encode("utf-8"))
            gz.write(b"\n")
    return final_path


def read_landing_file(path: LakePath) -> Iterator[LandedMessage]:
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield _decode(line)


def _numbered(folder: LakePath) -> list[LakePath]:
    """The YYYY, MM or DD subfolders of `folder`, in order (not `_unannounced` or files)."""
    return sorted(p for p in folder.iterdir() if p.name.isdigit())


def landing_day_dirs(landing_dir: LakePath, since: date | None = None) -> Iterator[LakePath]:
    """The landing archive's day folders in date order, optionally from `since` on.

    Walked folder by folder, so an object store lists only the days asked for, not the archive.
    """
    if not landing_dir.exists():
        return
    for year in _numbered(landing_dir):
        if since is not None and int(year.name) < since.year:
            continue
        for month in _numbered(year):
            for day in _numbered(month):
                if since is None or date(int(year.name), int(month.name), int(day.name)) >= since:
                    yield day


def iter_landing_files(landing_dir: LakePath, since: date | None = None) -> Iterator[LakePath]:
    """Landing files in receive order (by date folder, then name), optionally from `since` on."""
    for day in landing_day_dirs(landing_dir, since):
        yield from sorted(day.glob(f"*{SUFFIX}"))


def batch_id_of(path: LakePath) -> str:
    return path.name.removesuffix(SUFFIX)
