"""Hand-made rows written as a table's Parquet files (cast to its schema), and rows read back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect, sql_string, write_parquet
from nelo_assets.storage.tables import TABLE_SCHEMAS, empty_select


def write_rows(path: Path, table: str, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write hand-made rows as `table`'s Parquet file at `path`, in the given order, cast to the
    table's schema (columns a row leaves out are NULL; a column the table lacks is an error)."""
    names = [column.name for column in TABLE_SCHEMAS[table]]
    rows = list(rows)
    unknown = {key for row in rows for key in row} - set(names)
    assert not unknown, f"{table} has no column {sorted(unknown)}"
    with connect() as con:
        con.execute("set preserve_insertion_order = true")  # file order is what a test wrote
        con.execute(f"create temp table staged as {empty_select(table)}")
        if rows:
            columns = ", ".join(f'"{name}"' for name in names)
            marks = ", ".join("?" for _ in names)
            con.executemany(
                f"insert into staged ({columns}) values ({marks})",
                [[row.get(name) for name in names] for row in rows],
            )
        write_parquet(con, table, "select * from staged", path)
    return path


def write_partitions(lake: Lake, table: str, rows: Iterable[Mapping[str, Any]]) -> set[date]:
    """Replace the partitions of `table` the rows fall in (by event_date) with exactly those rows,
    one file per partition; return the dates written."""
    by_date: dict[date, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_date[row["event_date"]].append(row)
    for event_date, day_rows in by_date.items():
        write_rows(lake.partition_file(table, event_date), table, day_rows)
    return set(by_date)


def read_rows(path: Path, order_by: str | None = None) -> list[dict[str, Any]]:
    """The rows of one Parquet file as dicts (timestamps in UTC), in `order_by` order if given."""
    order = f" order by {order_by}" if order_by else ""
    with connect() as con:
        con.execute("set preserve_insertion_order = true")
        cursor = con.execute(f"select * from read_parquet({sql_string(str(path))}){order}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
