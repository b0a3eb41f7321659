"""One measured stage of the benchmark, run in a child process so its peak memory is its own.

`python -m bench.stages STAGE DATA_DIR START DAY [LAKE_URL]` prints one JSON line: wall and CPU
seconds, peak RSS, and what the stage counted. The stages share the lake that `bench.run`
prepared, in DATA_DIR or, given LAKE_URL, on S3 (bench.s3) with analytics.duckdb in DATA_DIR.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path

from nelo_assets.contract import parse_event
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import ROW_GROUP_SIZE, connect, load_sql, write_parquet
from nelo_assets.storage.tables import TABLES
from nelo_assets.transform.pipeline import DIMENSION_BUILDS, PARTITION_BUILDS, build_partitions

NAIVE_SAMPLE = 100_000  # the naive path is measured on at most this many events


def _bronze_files(lake: Lake, day: date) -> list[str]:
    return sorted(str(p) for p in lake.partition_dir("bronze_events", day).glob("*.parquet"))


def _bronze_rows(lake: Lake, day: date) -> int:
    """Rows in the day's bronze files, stored copies included: what every path reads, so all
    rates divide the same count."""
    files = _bronze_files(lake, day)
    with connect(reads=lake.root) as con:
        return con.execute("select count(*) from read_parquet(?)", [files]).fetchall()[0][0]


def transform(lake: Lake, settings: Settings, day: date) -> dict:
    """Bronze of one day to every gold table of that day (dimensions included), timed per table:
    pipeline.build_partitions for the day, then the dimensions, step by step. Each step's
    window (epoch seconds) lets bench.s3 count the requests of each table build."""
    builds = [(step.name, partial(step.build, lake, settings, day)) for step in PARTITION_BUILDS]
    builds += [(table, partial(build, lake, settings)) for table, build in DIMENSION_BUILDS]
    steps: dict[str, float] = {}
    windows: dict[str, list[float]] = {}
    for name, build in builds:
        started = time.time()
        build()
        windows[name] = [started, time.time()]
        steps[name] = round(windows[name][1] - started, 2)
    return {"events": _bronze_rows(lake, day), "steps": steps, "windows": windows}


def partition(lake: Lake, settings: Settings, day: date) -> dict:
    """One day's partition work only (silver, facts, marts): what day 1 vs day 60 compares."""
    build_partitions(lake, settings, [day])
    return {"events": _bronze_rows(lake, day)}


def ceiling(lake: Lake, settings: Settings, day: date) -> dict:
    """DuckDB scanning the same bronze files and parsing every event's JSON once, nothing else."""
    files = _bronze_files(lake, day)
    with connect(reads=lake.root) as con:
        events, parsed = con.execute(
            "select count(*), sum(length(json_extract_string(raw, '$.event_name'))) "
            "from read_parquet(?)",
            [files],
        ).fetchall()[0]
    return {"events": events, "checksum": int(parsed or 0)}


def parse_floor(lake: Lake, settings: Settings, day: date) -> dict:
    """The least any silver build does: parse every event once into silver's schema (items
    included) and write it to Parquet. No checks, no de-duplication, no gold."""
    files = _bronze_files(lake, day)
    with tempfile.TemporaryDirectory(prefix="nelo-bench-") as scratch, connect() as con:
        con.execute(load_sql("silver", "silver_macros"))
        con.execute(
            "copy (select message_id, batch_index, received_at, "
            "from_json(raw, event_json_schema()) as e from read_parquet(?)) "
            f"to '{Path(scratch) / 'parsed.parquet'}' "
            f"(format parquet, row_group_size {ROW_GROUP_SIZE})",
            [files],
        )
        ((events, items),) = con.execute(
            "select count(*), sum(len(e.items)) from read_parquet(?)",
            [str(Path(scratch) / "parsed.parquet")],
        ).fetchall()
    return {"events": events, "items": int(items or 0)}


def _day_outputs(lake: Lake, day: date) -> list[tuple[str, Path]]:
    """(table, file) of every file the day's transform writes: its partitions of silver and
    gold, the silver quarantine, and the dimensions."""
    tables = [name for name, t in TABLES.items() if t.partitioned and name != "bronze_events"]
    outputs = [(table, Path(lake.partition_file(table, day))) for table in tables]
    outputs.append(("quarantine", Path(lake.silver_quarantine_file(day))))
    outputs += [(table, Path(lake.table_file(table))) for table, _build in DIMENSION_BUILDS]
    return [(table, path) for table, path in outputs if path.exists()]


def write_floor(lake: Lake, settings: Settings, day: date) -> dict:
    """Every file the transform stage wrote for the day, read and written again by the lake's
    own writer (sql_models.write_parquet): what any transform that outputs these tables pays,
    with no parse and no logic."""
    outputs = _day_outputs(lake, day)
    rows = 0
    with tempfile.TemporaryDirectory(prefix="nelo-bench-") as scratch, connect() as con:
        for n, (table, path) in enumerate(outputs):
            query = f"from read_parquet('{path}')"
            rows += write_parquet(con, table, query, Path(scratch) / f"{n}.parquet")
    return {"events": _bronze_rows(lake, day), "files": len(outputs), "rows": rows}


def naive(lake: Lake, settings: Settings, day: date) -> dict:
    """A straightforward per-event silver: json + pydantic per event, rows written one by one."""
    files = _bronze_files(lake, day)
    with connect(reads=lake.root) as con:
        # The same events in every run: the first ones in file order.
        con.execute("set preserve_insertion_order = true")
        rows = con.execute(
            "select message_id, received_at, batch_index, raw from read_parquet(?) limit ?",
            [files, NAIVE_SAMPLE],
        ).fetchall()
    out = io.StringIO()
    events_out, items_out = csv.writer(out), csv.writer(out)
    valid = 0
    for message_id, received_at, batch_index, raw in rows:
        parsed = parse_event(
            message_id,
            received_at,
            batch_index,
            raw,
            timezone=settings.timezone,
            start_date=settings.start_date,
        )
        if hasattr(parsed, "items"):
            valid += 1
            events_out.writerow(
                [parsed.event_id, parsed.user_id, parsed.event_name, parsed.event_timestamp]
            )
            for item in parsed.items:
                items_out.writerow([parsed.event_id, item.item_id, item.price, item.quantity])
    return {"events": len(rows), "valid": valid}


def dims(lake: Lake, settings: Settings, day: date) -> dict:
    for _table, build_dimension in DIMENSION_BUILDS:
        build_dimension(lake, settings)
    return {"events": 0}


STAGES: dict[str, Callable[[Lake, Settings, date], dict]] = {
    "transform": transform,
    "partition": partition,
    "ceiling": ceiling,
    "parse_floor": parse_floor,
    "write_floor": write_floor,
    "naive": naive,
    "dims": dims,
}


def _peak_rss_kib() -> int:
    """This process's own peak RSS (VmHWM). Not ru_maxrss: Linux carries that across fork and
    exec, so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    stage, data_dir, start, day = sys.argv[1:5]
    lake_url = sys.argv[5] if len(sys.argv) > 5 else ""
    settings = Settings.from_env(
        {"NELO_DATA_DIR": data_dir, "NELO_START_DATE": start, "NELO_LAKE_URL": lake_url}
    )
    wall, cpu = time.perf_counter(), time.process_time()
    counted = STAGES[stage](Lake.from_settings(settings), settings, date.fromisoformat(day))
    result = {
        "stage": stage,
        "day": day,
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_gib": _peak_rss_kib() / 1024**2,
        **counted,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
