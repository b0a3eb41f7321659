"""Runs the SQL models in sql/ on in-memory DuckDB over Parquet files, and writes results atomically."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

import duckdb

from nelo_assets.lake import atomic_path
from nelo_assets.schemas import empty_select, select_list

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# Each partition run gets its own in-memory database, bounded so many can run at once (R6, R9).
DEFAULT_MEMORY_LIMIT = "1GB"
DEFAULT_THREADS = 2


@cache
def load_sql(layer: str, name: str) -> str:
    return (SQL_DIR / layer / f"{name}.sql").read_text()


def connect(
    memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int = DEFAULT_THREADS
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def bind_parquet(
    con: duckdb.DuckDBPyConnection, view_name: str, table: str, files: Iterable[Path]
) -> int:
    """Expose the given Parquet files of `table` as a temp view; zero files gives a typed empty view.

    Paths come from code (the lake), never from data, so formatting them into SQL is safe.
    Returns how many files were bound.
    """
    existing = sorted(str(p) for p in files if Path(p).exists())
    if existing:
        file_list = "[" + ", ".join(_sql_string(p) for p in existing) + "]"
        source = f"SELECT {select_list(table)} FROM read_parquet({file_list}, union_by_name = true)"
    else:
        source = empty_select(table)
    con.execute(f'CREATE OR REPLACE TEMP VIEW "{view_name}" AS {source}')
    return len(existing)


def write_parquet(
    con: duckdb.DuckDBPyConnection, table: str, query: str, path: Path, params: list | None = None
) -> int:
    """Write `query` (cast to `table`'s schema) to `path` atomically; return the row count."""
    with atomic_path(path) as tmp:
        con.execute(
            f"COPY (SELECT {select_list(table)} FROM ({query})) TO {_sql_string(str(tmp))} "
            "(FORMAT parquet, COMPRESSION zstd)",
            params or [],
        )
    return con.execute(f"SELECT count(*) FROM read_parquet({_sql_string(str(path))})").fetchone()[0]
