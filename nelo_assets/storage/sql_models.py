"""Runs the SQL models in sql/ on in-memory DuckDB over Parquet files, and writes results atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import duckdb

from nelo_assets.storage.compaction import live_files
from nelo_assets.storage.lake import LakePath, atomic_path
from nelo_assets.storage.objects import readable_files, register_filesystem
from nelo_assets.storage.tables import SQL_DIR, TABLES, empty_select, select_list

# Each partition run gets its own in-memory database, bounded so many can run at once (R6, R9).
DEFAULT_MEMORY_LIMIT = "1GB"
DEFAULT_THREADS = 2
# One spill folder per process: DuckDB names its spill files alike in every process.
SPILL_DIR = Path(tempfile.gettempdir()) / f"nelo-duckdb-spill-{os.getpid()}"
# Small row groups: a bronze group of the default 122,880 rows holds ~100 MB of raw JSON.
ROW_GROUP_SIZE = 16_384


@cache
def load_sql(layer: str, name: str) -> str:
    return (SQL_DIR / layer / f"{name}.sql").read_text()


def model_sql(table: str) -> str:
    """The SQL model of a registered table or view (the file its asset links to in the UI)."""
    return load_sql(TABLES[table].sql_folder, table)


def connect(
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    threads: int = DEFAULT_THREADS,
    *,
    reads: LakePath | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB; `reads` names a lake path whose store it must read by URL."""
    con = duckdb.connect(":memory:")
    if reads is not None:
        register_filesystem(con, reads)
    con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute(f"set threads = {int(threads)}")
    con.execute("set TimeZone = 'UTC'")
    con.execute("set preserve_insertion_order = false")
    # Spill to the system temp dir, never to ./.tmp in whatever directory the run started in.
    con.execute(f"set temp_directory = {sql_string(str(SPILL_DIR))}")
    return con


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Tables whose read model needs each stored row's identity (file and row number): bronze keeps
# append-only files that can hold the same message twice, and dedupes on it.
ROW_IDENTITY_TABLES = frozenset({"bronze_events"})
ROW_IDENTITY = "filename, file_row_number"
# Tables whose partitions a compaction folds into one file: readers skip the files it folded.
COMPACTED_TABLES = frozenset({"bronze_events"})


def parquet_source(table: str, files_or_glob: str) -> str:
    """A SELECT of `table`'s columns (cast to its schema) from a read_parquet() file argument."""
    identity = table in ROW_IDENTITY_TABLES
    options = ", filename = true, file_row_number = true" if identity else ""
    extra = f", {ROW_IDENTITY}" if identity else ""
    return (
        f"select {select_list(table)}{extra} from read_parquet({files_or_glob}, "
        f"union_by_name = true, hive_partitioning = false{options})"
    )


def bind_parquet(
    con: duckdb.DuckDBPyConnection, view_name: str, table: str, files: Iterable[LakePath]
) -> int:
    """Expose the given Parquet files of `table` as a temp view; zero files gives a typed empty view.

    Paths come from code (the lake), never from data, so formatting them into SQL is safe.
    Files on an object store are read through its filesystem, registered on `con`. Files a
    compaction folded are left out (storage/compaction.py).
    Returns how many files were bound.
    """
    found = readable_files(con, files)
    if table in COMPACTED_TABLES:
        found = live_files(con, found)
    urls = sorted(str(p) for p in found)
    if urls:
        source = parquet_source(table, "[" + ", ".join(sql_string(p) for p in urls) + "]")
    elif table in ROW_IDENTITY_TABLES:
        source = f"select *, null::varchar as filename, null::bigint as file_row_number from ({empty_select(table)})"
    else:
        source = empty_select(table)
    con.execute(f'create or replace temp view "{view_name}" as {source}')
    return len(urls)


def write_parquet(
    con: duckdb.DuckDBPyConnection,
    table: str,
    query: str,
    path: LakePath,
    params: list | None = None,
    footer: dict[str, str] | None = None,
) -> int:
    """Write `query` (cast to `table`'s schema) to `path` atomically, with `footer` as the file's
    key-value metadata; return the row count."""
    metadata = ", ".join(f"{sql_string(k)}: {sql_string(v)}" for k, v in (footer or {}).items())
    with atomic_path(path) as tmp:
        con.execute(
            f"copy (select {select_list(table)} from ({query})) to {sql_string(str(tmp))} "
            f"(format parquet, compression zstd, row_group_size {ROW_GROUP_SIZE}"
            + (f", kv_metadata {{{metadata}}})" if metadata else ")"),
            params or [],
        )
        # Counted in the finished local file, before it is published (no read back from S3).
        # fetchall, not fetchone: an unfinished result blocks the connection's next register().
        ((rows,),) = con.execute(
            f"select count(*) from read_parquet({sql_string(str(tmp))})"
        ).fetchall()
    return rows
