"""Where every table lives (a local folder or an object store), and the one way to write a file
atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from nelo_assets.settings import Settings
from nelo_assets.storage.objects import ObjectPath
from nelo_assets.storage.tables import TABLES

# A file of the lake: local (pathlib) or on an object store; both answer the same path methods.
LakePath = Path | ObjectPath


@dataclass(frozen=True)
class Lake:
    """Paths of the lake under one root: $NELO_DATA_DIR, or the object store $NELO_LAKE_URL names.
    The only place that knows them. analytics.duckdb is always a local file, in `data_dir`."""

    root: LakePath
    data_dir: Path | None = None  # where analytics.duckdb lives; the root of a local lake

    @classmethod
    def at(cls, lake_url: str | None, data_dir: Path) -> Lake:
        """The lake at `lake_url` (s3://bucket/prefix), or the local folder `data_dir`."""
        if not lake_url:
            return cls(data_dir)
        return cls(ObjectPath.from_url(lake_url), data_dir)

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        return cls.at(settings.lake_url, settings.data_dir)

    @property
    def local_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        assert isinstance(self.root, Path), "a lake on an object store needs a local data_dir"
        return self.root

    @property
    def landing_dir(self) -> LakePath:
        return self.root / "landing"

    @property
    def unannounced_dir(self) -> LakePath:
        """Routed landing batches whose bronze partitions Dagster has not been told about yet."""
        return self.root / "landing" / "_unannounced"

    @property
    def duckdb_path(self) -> Path:
        return self.local_dir / "analytics.duckdb"

    def table_dir(self, table: str) -> LakePath:
        folder = TABLES[table].folder
        if folder is None:
            raise KeyError(f"{table!r} is a view of analytics.duckdb; it has no files")
        return self.root / folder

    def partition_dir(self, table: str, event_date: date | str) -> LakePath:
        return self.table_dir(table) / f"event_date={event_date}"

    def partition_file(self, table: str, event_date: date | str) -> LakePath:
        """The single file of a partition that is replaced as a whole (silver, gold)."""
        return self.partition_dir(table, event_date) / "part.parquet"

    def table_file(self, table: str) -> LakePath:
        """The single file of an unpartitioned table (the dimensions), replaced as a whole."""
        return self.table_dir(table) / "part.parquet"

    def partition_files(self, table: str, event_date: date | str) -> list[LakePath]:
        """Every Parquet file of one partition (bronze appends several; the rest hold one)."""
        return sorted(self.partition_dir(table, event_date).glob("*.parquet"))

    def all_partition_files(self, table: str) -> list[LakePath]:
        """Every Parquet file of every partition of `table`, oldest date first."""
        return sorted(self.table_dir(table).glob("event_date=*/*.parquet"))

    # Quarantine comes from two places: ingestion (whole messages and unroutable events,
    # append-only, one file per landing batch) and silver (one file per event_date, replaced).
    def ingest_quarantine_file(self, received_date: date | str, batch_id: str) -> LakePath:
        return (
            self.table_dir("quarantine")
            / "ingest"
            / f"received_date={received_date}"
            / f"{batch_id}.parquet"
        )

    def silver_quarantine_file(self, event_date: date | str) -> LakePath:
        return self.table_dir("quarantine") / "silver" / f"event_date={event_date}" / "part.parquet"

    def quarantine_files(self) -> list[LakePath]:
        base = self.table_dir("quarantine")
        return sorted(base.glob("ingest/received_date=*/*.parquet")) + sorted(
            base.glob("silver/event_date=*/*.parquet")
        )


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(final_path: LakePath) -> Iterator[Path]:
    """Yield a local temporary path; once written, publish it whole as `final_path`.

    Readers see the old file or the new one, never half a file, and a write that fails leaves
    the old one. Locally: the temporary file is beside `final_path`, fsynced and renamed into
    place; a crash leaves at most a hidden temporary file, which globs ignore because it starts
    with a dot. On an object store: one upload of the finished file (ObjectPath.publishing).
    """
    if isinstance(final_path, ObjectPath):
        with final_path.publishing() as tmp_path:
            yield tmp_path
        return
    final_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final_path.name}.", suffix=".tmp", dir=final_path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, final_path)
        fsync_dir(final_path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_generated(render: Callable[[], str], default_path: Path, argv: list[str]) -> int:
    """The CLI of a generated file (`make schema`, `make docs`): render it to argv[0], or to
    default_path, in one atomic write."""
    path = Path(argv[0]) if argv else default_path
    with atomic_path(path) as tmp:
        tmp.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0
