"""Where every table lives on disk, and the one way to write a file atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from nelo_assets.storage.tables import TABLES


@dataclass(frozen=True)
class Lake:
    """Paths of the lake under one root ($NELO_DATA_DIR); the only place that knows them."""

    root: Path

    @property
    def landing_dir(self) -> Path:
        return self.root / "landing"

    @property
    def unannounced_dir(self) -> Path:
        """Routed landing batches whose bronze partitions Dagster has not been told about yet."""
        return self.root / "landing" / "_unannounced"

    @property
    def duckdb_path(self) -> Path:
        return self.root / "analytics.duckdb"

    def table_dir(self, table: str) -> Path:
        folder = TABLES[table].folder
        if folder is None:
            raise KeyError(f"{table!r} is a view of analytics.duckdb; it has no files")
        return self.root / folder

    def partition_dir(self, table: str, event_date: date | str) -> Path:
        return self.table_dir(table) / f"event_date={event_date}"

    def partition_file(self, table: str, event_date: date | str) -> Path:
        """The single file of a partition that is replaced as a whole (silver, gold)."""
        return self.partition_dir(table, event_date) / "part.parquet"

    def table_file(self, table: str) -> Path:
        """The single file of an unpartitioned table (the dimensions), replaced as a whole."""
        return self.table_dir(table) / "part.parquet"

    def partition_files(self, table: str, event_date: date | str) -> list[Path]:
        """Every Parquet file of one partition (bronze appends several; the rest hold one)."""
        return sorted(self.partition_dir(table, event_date).glob("*.parquet"))

    def all_partition_files(self, table: str) -> list[Path]:
        """Every Parquet file of every partition of `table`, oldest date first."""
        return sorted(self.table_dir(table).glob("event_date=*/*.parquet"))

    # Quarantine comes from two places: ingestion (whole messages and unroutable events,
    # append-only, one file per landing batch) and silver (one file per event_date, replaced).
    def ingest_quarantine_file(self, received_date: date | str, batch_id: str) -> Path:
        return (
            self.table_dir("quarantine")
            / "ingest"
            / f"received_date={received_date}"
            / f"{batch_id}.parquet"
        )

    def silver_quarantine_file(self, event_date: date | str) -> Path:
        return self.table_dir("quarantine") / "silver" / f"event_date={event_date}" / "part.parquet"

    def quarantine_files(self) -> list[Path]:
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
def atomic_path(final_path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final_path`; on success fsync it and rename it into place.

    Readers see the old file or the new one, never half a file; a crash leaves at most a
    hidden temporary file, which globs ignore because it starts with a dot.
    """
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
