"""analytics.duckdb: every published table answers by name, empty or not, opened read-only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from nelo_assets.serving.analytics import publish_views
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect, write_parquet
from nelo_assets.storage.tables import TABLES

PUBLISHED = [
    "bronze_events",
    "quarantine",
    "silver_events",
    "silver_items",
    "fact_events",
    "fact_event_items",
    "dim_items",
    "dim_users",
    "master_list_items_engagement",
    "mart_item_list_daily",
    "mart_product_daily",
]


def test_every_table_answers_zero_rows_before_any_data(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    assert publish_views(lake) is True
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as con:
        for table in PUBLISHED:
            assert con.execute(f"select count(*) from {table}").fetchone() == (0,), table


def test_every_view_has_exactly_the_registry_columns(tmp_path: Path) -> None:
    """The registry is what docs/tables.md and the UI show: every published view, with its
    columns' names, order and types, as analytics.duckdb answers them."""
    lake = Lake(tmp_path / "data")
    publish_views(lake)
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as con:
        views = con.execute("select view_name from duckdb_views() where not internal").fetchall()
        assert {name for (name,) in views} == set(TABLES)
        for table in TABLES.values():
            got = [(r[0], r[1]) for r in con.execute(f"describe {table.name}").fetchall()]
            # DuckDB's own spelling of each declared type (TIMESTAMPTZ is TIMESTAMP WITH TIME ZONE).
            declared = [
                (c.name, con.execute(f"describe select cast(null as {c.type})").fetchone()[1])
                for c in table.columns
            ]
            assert got == declared, table.name


def test_views_are_rewritten_only_when_definitions_change(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    assert publish_views(lake) is True
    mtime = lake.duckdb_path.stat().st_mtime_ns
    assert publish_views(lake) is False
    assert lake.duckdb_path.stat().st_mtime_ns == mtime


def test_new_partitions_show_without_republishing_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "data")
    publish_views(lake)
    with connect() as con:
        for day, user in (("2026-03-01", "u1"), ("2026-03-02", "u2")):
            write_parquet(
                con,
                "fact_events",
                f"select 'e-{user}' as event_id, '{user}' as user_id, 's' as session_id, "
                f"'login' as event_name, timestamptz '{day} 12:00:00+00' as event_timestamp, "
                f"date '{day}' as event_date, 6 as event_hour, 'IOS' as platform, "
                "null as item_list_name, null as transaction_id, null as value, 'MXN' as currency, "
                f"timestamptz '{day} 12:00:01+00' as processed_at",
                lake.partition_file("fact_events", day),
            )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with duckdb.connect(str(lake.duckdb_path), read_only=True) as con:
        rows = con.execute("select user_id from fact_events order by 1").fetchall()
    assert rows == [("u1",), ("u2",)]
    assert os.getcwd() == str(elsewhere)


@contextmanager
def reader_holding(path: Path) -> Iterator[Callable[[], str]]:
    """Another process that opens `path` read-only once and keeps it open; each call of the
    yielded function has it count dim_items through that same connection."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "for _line in sys.stdin:\n"
            "    print(con.execute('select count(*) from dim_items').fetchone()[0], flush=True)\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin and holder.stdout

    def query() -> str:
        holder.stdin.write("query\n")
        holder.stdin.flush()
        return holder.stdout.readline().strip()

    try:
        yield query
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0


def test_a_reader_in_another_process_does_not_block_the_pipeline(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    publish_views(lake)
    with reader_holding(lake.duckdb_path) as query:
        assert query() == "0"  # the reader is in, holding the file
        assert publish_views(lake) is False  # up to date: the pipeline needs no write lock
        with duckdb.connect(str(lake.duckdb_path), read_only=True) as con:
            assert con.execute("select count(*) from quarantine").fetchone() == (0,)


def test_a_rewrite_replaces_the_file_while_a_reader_holds_it_open(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    publish_views(lake)
    first = lake.duckdb_path.stat().st_ino
    with reader_holding(lake.duckdb_path) as query:
        assert query() == "0"  # the reader is in, holding the file

        # In place, DuckDB would refuse the write while the reader holds the file.
        assert publish_views(lake, force=True) is True

        assert lake.duckdb_path.stat().st_ino != first
        assert query() == "0"  # still reading the file it opened
        with duckdb.connect(str(lake.duckdb_path), read_only=True) as con:
            assert con.execute("select count(*) from nelo_meta").fetchone() == (1,)
        assert [p.name for p in lake.root.iterdir() if p.name.startswith(".")] == []
