"""The lake on S3 beside local disk: one simulated day's transform (silver, facts, marts and
dimensions: bench.stages' transform stage, in a fresh process each) on the same bronze, once in a
local folder and once on a moto server in its own process. Reports the seconds of each, their
ratio, and what bounds the difference: the requests the S3 run made (counted in moto's request
log), the bytes it moved, and moto's own per-request latency and transfer rate measured here.

Usage: python -m bench.s3 [--quick] [--out DIR]   (prints the results as JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pyarrow.fs as pafs

from bench.bench_ingest import _free_port
from bench.run import DAY, START, _prepare
from nelo_assets.service import processes
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.objects import ObjectPath, upload

REPO = Path(__file__).resolve().parent.parent
# A 200,000-event day keeps `make bench` under 20 minutes: the 1M-event day took 476 s on moto
# (the report of e4c8abd), and what bounds the ratio (requests, transfers, moto's own CPU)
# shows at this size too. `--events 1000000` measures the full day.
FULL_EVENTS = 200_000
QUICK_EVENTS = 5_000
BUCKET = "nelo-bench"
LATENCY_PROBES = 200
# moto accepts any credentials; these are placeholders, not secrets.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# One line per request in moto's log: "GET /bucket/key?query HTTP/1.1" 200 -
REQUEST_LINE = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/[\d.]+" (\d{3})')


@contextmanager
def moto_server(log_path: Path) -> Iterator[tuple[str, psutil.Process]]:
    """A moto server on a free port in its own process; yields its endpoint and process."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    server = processes.start(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=log_path,
    )
    try:
        processes.wait_until(
            lambda: processes.http_ok(f"{endpoint}/moto-api/"), 30, "the moto server", [server]
        )
        yield endpoint, psutil.Process(server.pid)
    finally:
        processes.stop([server])


def _requests(log_path: Path, since_line: int) -> tuple[Counter[str], int]:
    """Requests moto logged after line `since_line`, by kind; and the log's line count."""
    lines = log_path.read_text(errors="replace").splitlines()
    kinds: Counter[str] = Counter()
    for line in lines[since_line:]:
        if match := REQUEST_LINE.search(line):
            kinds[_kind(match[1], match[2])] += 1
    return kinds, len(lines)


def _kind(method: str, target: str) -> str:
    query = target.partition("?")[2]
    if method == "GET" and "list-type" in query:
        return "list"
    if method == "GET":
        return "get"
    if method == "HEAD":
        return "head"
    if "uploads" in query.split("&") or "uploadId" in query:
        return "upload (multipart create, part, complete)"
    return method.lower()


def _stage(data_dir: Path, env: dict[str, str], lake_url: str = "") -> dict:
    """bench.stages' transform of DAY in a fresh process, as bench.run runs it."""
    argv = [sys.executable, "-m", "bench.stages", "transform", str(data_dir), START, str(DAY)]
    done = subprocess.run(
        [*argv, *([lake_url] if lake_url else [])],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the transform stage failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _sizes(fs: pafs.FileSystem, prefix: str) -> dict[str, int]:
    infos = fs.get_file_info(pafs.FileSelector(prefix, recursive=True))
    return {i.path: i.size for i in infos if i.type == pafs.FileType.File}


def _moto_costs(fs: pafs.FileSystem, small: str, large: Path, scratch: str) -> dict:
    """moto's own cost, from this process: one HEAD round trip, and GET/PUT rates of a large
    file (the day's bronze)."""
    started = time.perf_counter()
    for _ in range(LATENCY_PROBES):
        fs.get_file_info(small)
    head_ms = (time.perf_counter() - started) / LATENCY_PROBES * 1e3
    megabytes = large.stat().st_size / 1e6
    started = time.perf_counter()
    upload(large, ObjectPath(fs, "s3", scratch))
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    with fs.open_input_stream(scratch) as stream:
        stream.read()
    get_s = time.perf_counter() - started
    fs.delete_file(scratch)
    return {
        "head_ms": round(head_ms, 2),
        "put_mb_per_s": round(megabytes / put_s, 1),
        "get_mb_per_s": round(megabytes / get_s, 1),
        "probe_file_mb": round(megabytes, 1),
    }


def run(quick: bool, out: Path, events: int | None = None) -> dict:
    """The day's transform on local disk, then on S3 (moto); `out` holds the cached day (shared
    with bench.run's) and the scratch lake."""
    events = events or (QUICK_EVENTS if quick else FULL_EVENTS)
    local_lake = _prepare(out / "cache" / f"day-{events}", DAY, 1, events)
    bronze = local_lake.partition_files("bronze_events", DAY)
    work = out / "s3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    local = _stage(local_lake.root, env)

    with moto_server(work / "moto.log") as (endpoint, moto):
        env |= {**AWS_ENV, "AWS_ENDPOINT_URL_S3": endpoint}
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint,
            access_key=AWS_ENV["AWS_ACCESS_KEY_ID"],
            secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region=AWS_ENV["AWS_DEFAULT_REGION"],
            allow_bucket_creation=True,
        )
        fs.create_dir(BUCKET)
        s3_lake = Lake(ObjectPath(fs, "s3", f"{BUCKET}/lake"), work)
        for path in bronze:  # the same bronze files, byte for byte
            upload(path, s3_lake.partition_dir("bronze_events", DAY) / path.name)
        _, log_lines = _requests(work / "moto.log", 0)
        moto_cpu = sum(moto.cpu_times()[:2])

        remote = _stage(work, env, str(s3_lake.root))

        requests, _ = _requests(work / "moto.log", log_lines)
        moto_cpu = sum(moto.cpu_times()[:2]) - moto_cpu
        objects = _sizes(fs, f"{BUCKET}/lake")
        costs = _moto_costs(fs, next(iter(objects)), bronze[0], f"{BUCKET}/probe")

    bronze_mb = sum(p.stat().st_size for p in bronze) / 1e6
    written_mb = sum(s for k, s in objects.items() if "/bronze/" not in k) / 1e6
    extra_s = remote["seconds"] - local["seconds"]
    total_requests = sum(requests.values())
    return {
        "events": local["events"],
        "bronze_files": len(bronze),
        "bronze_mb": round(bronze_mb, 1),
        "local_s": round(local["seconds"], 2),
        "s3_s": round(remote["seconds"], 2),
        "s3_over_local": round(remote["seconds"] / local["seconds"], 2),
        "extra_s": round(extra_s, 2),
        "cpu_s": {"local": round(local["cpu_seconds"], 2), "s3": round(remote["cpu_seconds"], 2)},
        "moto_cpu_s": round(moto_cpu, 2),
        "requests": total_requests,
        "requests_by_kind": dict(requests.most_common()),
        "written_mb": round(written_mb, 1),
        "moto": costs,
        # What the requests alone cost at moto's round trip, and moving the bytes at its rates:
        # bronze read once, every written file uploaded once and read back by the next step.
        "request_s_estimate": round(total_requests * costs["head_ms"] / 1e3, 2),
        "transfer_s_estimate": round(
            (bronze_mb + written_mb) / costs["get_mb_per_s"] + written_mb / costs["put_mb_per_s"],
            2,
        ),
        "steps": {"local": local["steps"], "s3": remote["steps"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.s3", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, not {FULL_EVENTS:,}"
    )
    parser.add_argument("--events", type=int, help="another day size (1000000: the full day)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick, args.out, args.events), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
