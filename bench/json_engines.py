"""Polars beside DuckDB parsing the same day's bronze JSON, timed side by side: which engine
silver parses with (docs/decisions.md §19).

Polars has no type for "any JSON value, kept as its text", which silver's checks need (a price
as a number or a string, params as an object or a GA4 list), and one event it cannot type fails
the whole column. So it gets its best case: only the fields sent as strings, read from NDJSON
with `ignore_errors` (a value it cannot type reads as null). DuckDB parses silver's whole schema
(`event_json_schema`) from the bronze Parquet files. Both count the events and items they read.

Usage: python -m bench.json_engines DATA_DIR DAY [--runs N]   (prints JSON; the bench's day:
bench/out/cache/day-1000000/data 2026-06-01)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import polars as pl

from nelo_assets.contract.values import ITEM_TEXT_FIELDS
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect, load_sql

EVENT_TEXT_FIELDS = ("event_name", "event_timestamp", "user_id", "user_pseudo_id", "platform")
POLARS_SCHEMA = {
    **dict.fromkeys(EVENT_TEXT_FIELDS, pl.String),
    "app_version": pl.String,
    # the contract's free-text item fields, and the list fields an item may carry
    "items": pl.List(
        pl.Struct(dict.fromkeys((*ITEM_TEXT_FIELDS, "item_list_id", "item_list_name"), pl.String))
    ),
}


def _to_ndjson(files: list[str], path: Path) -> None:
    """One event a line. A raw newline in JSON can only be white space between tokens (one in a
    string is escaped), so it becomes a space."""
    raw = pl.read_parquet(files, columns=["raw"]).select(
        pl.col("raw").str.replace_all("[\r\n]", " ")
    )
    path.write_text("\n".join(raw["raw"].to_list()) + "\n")


def _timed(parse: Callable[[], tuple[int, int]], runs: int) -> dict:
    seconds, counted = [], None
    for _ in range(runs):
        started = time.perf_counter()
        counted = parse()
        seconds.append(time.perf_counter() - started)
    events, items = counted
    return {
        "seconds": [round(s, 2) for s in seconds],
        "median_s": statistics.median(seconds),
        "events": events,
        "items": items,
    }


def compare(data_dir: Path, day: date, runs: int = 3) -> dict:
    files = [str(p) for p in Lake(data_dir).partition_files("bronze_events", day)]
    with tempfile.TemporaryDirectory(prefix="nelo-bench-") as scratch, connect() as con:
        ndjson = Path(scratch) / "raw.ndjson"
        _to_ndjson(files, ndjson)
        con.execute(load_sql("silver", "silver_macros"))

        def duckdb_parse() -> tuple[int, int]:
            query = (
                "select count(*), sum(len(from_json(raw, event_json_schema()).items)) "
                "from read_parquet(?)"
            )
            events, items = con.execute(query, [files]).fetchone()
            return events, int(items or 0)

        def polars_parse() -> tuple[int, int]:
            frame = pl.read_ndjson(ndjson, schema=POLARS_SCHEMA, ignore_errors=True)
            return frame.height, int(frame["items"].list.len().sum() or 0)

        results = {"duckdb": _timed(duckdb_parse, runs), "polars": _timed(polars_parse, runs)}
    results["polars_over_duckdb"] = round(
        results["polars"]["median_s"] / results["duckdb"]["median_s"], 2
    )
    for engine in ("duckdb", "polars"):
        results[engine]["median_s"] = round(results[engine]["median_s"], 2)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.json_engines", description=__doc__.splitlines()[0]
    )
    parser.add_argument("data_dir", type=Path, help="a lake with bronze for DAY")
    parser.add_argument("day", type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.data_dir.is_dir():
        parser.error(f"{args.data_dir} is not a folder")
    print(json.dumps(compare(args.data_dir, args.day, args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
