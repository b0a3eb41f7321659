"""The lake on S3 beside local disk, at S3's latency: one simulated day's transform (silver,
facts, marts and dimensions: bench.stages' transform stage, in a fresh process each) on the same
bronze (compacted, as the ingest runs leave a day they have moved past), in a local folder, then
on a moto server through a proxy that holds every request for 0 ms and for 25 ms
(bench.latency_proxy). What the delay adds, over the local time, is what S3's
latency costs the transform; moto's own CPU on our cores is in both S3 runs, so it cancels.
Each of the three runs twice, interleaved, and the faster of the two counts: identical runs of
a transform differ by up to a quarter on this machine, more than the figure's distance to its
goal. Reports the seconds of each and the requests by kind and by table build.

Usage: python -m bench.s3 [--quick] [--events N] [--delay-ms MS] [--out DIR]   (prints JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

import psutil
import pyarrow.fs as pafs

from bench import run as bench_run  # a module, not its names: bench.run imports this one
from bench.bench_ingest import _free_port
from bench.latency_proxy import DEFAULT_DELAY_MS, Request, endpoint, latency_proxy
from nelo_assets.ingestion.compaction import compact_partition
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
# Runs of each configuration (local, S3 at 0 ms, S3 at the delay), interleaved; the fastest
# counts. Local runs of the same day measured 4.69, 5.34 and 5.87 s in a row.
REPEATS = 2
# moto accepts any credentials; these are placeholders, not secrets.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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


def _by_build(requests: list[Request], windows: dict[str, list[float]]) -> dict[str, dict]:
    """Requests by table build (the window each arrived in) and kind; the stage's final count
    of bronze rows, and anything else outside a build, is "other"."""
    builds: dict[str, Counter[str]] = defaultdict(Counter)
    for request in requests:
        build = next(
            (name for name, (start, end) in windows.items() if start <= request.at <= end),
            "other",
        )
        builds[build][_kind(request.method, request.target)] += 1
    return {name: dict(kinds.most_common()) for name, kinds in builds.items()}


def _waiting_s(requests: list[Request], delay_s: float) -> float:
    """Seconds in which at least one request was held by the proxy: what the delay can add at
    most, whatever the load on the machine (the run's seconds move with it)."""
    total, end = 0.0, float("-inf")
    for at in sorted(r.at for r in requests):
        total += max(0.0, at + delay_s - max(at, end))
        end = max(end, at + delay_s)
    return total


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
    argv = [
        sys.executable,
        "-m",
        "bench.stages",
        "transform",
        str(data_dir),
        bench_run.START,
        str(bench_run.DAY),
    ]
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


def _head_ms(fs: pafs.FileSystem, key: str) -> float:
    """One HEAD of an existing object, timed."""
    started = time.perf_counter()
    fs.get_file_info(key)
    return (time.perf_counter() - started) * 1e3


def _s3(endpoint_url: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        endpoint_override=endpoint_url,
        access_key=AWS_ENV["AWS_ACCESS_KEY_ID"],
        secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region=AWS_ENV["AWS_DEFAULT_REGION"],
        allow_bucket_creation=True,
    )


def _s3_run(
    moto_endpoint: str, moto: psutil.Process, bronze: list[Path], work: Path, delay_ms: float
) -> dict:
    """The transform on a fresh lake in moto (named after `work`), every request held
    `delay_ms` by the proxy."""
    fs = _s3(moto_endpoint)
    lake = Lake(ObjectPath(fs, "s3", f"{BUCKET}/lake-{work.name}"), work)
    uploaded = [lake.partition_dir("bronze_events", bench_run.DAY) / path.name for path in bronze]
    for path, target in zip(bronze, uploaded, strict=True):
        upload(path, target)  # the same bronze files, byte for byte, around the proxy
    with latency_proxy(moto_endpoint, delay_ms) as proxy:
        head_ms = _head_ms(_s3(endpoint(proxy)), uploaded[0].key)
        if head_ms < delay_ms:
            raise RuntimeError(f"a HEAD through the proxy took {head_ms:.1f} ms < {delay_ms} ms")
        since = len(proxy.requests)
        moto_cpu = sum(moto.cpu_times()[:2])
        env = {**_env(), **AWS_ENV, "AWS_ENDPOINT_URL_S3": endpoint(proxy)}
        result = _stage(work, env, str(lake.root))
        requests = proxy.requests[since:]
    kinds = Counter(_kind(r.method, r.target) for r in requests)
    return {
        **result,
        "head_ms": round(head_ms, 1),
        "moto_cpu_s": round(sum(moto.cpu_times()[:2]) - moto_cpu, 2),
        "requests": len(requests),
        "waiting_s": round(_waiting_s(requests, delay_ms / 1e3), 2),
        "requests_by_kind": dict(kinds.most_common()),
        "requests_by_build": _by_build(requests, result["windows"]),
        "written_mb": round(
            sum(s for k, s in _sizes(fs, lake.root.key).items() if "/bronze/" not in k) / 1e6, 1
        ),
    }


def _compacted_copy(ingested: list[Path], root: Path) -> Lake:
    """A local lake holding the day's bronze as ingestion leaves it once it has moved past the
    day: the ingested files, compacted, and the folded files deleted after their grace."""
    shutil.rmtree(root, ignore_errors=True)
    lake = Lake(root)
    partition = Path(lake.partition_dir("bronze_events", bench_run.DAY))
    partition.mkdir(parents=True)
    for path in ingested:
        shutil.copy(path, partition / path.name)
    settled = datetime.combine(bench_run.DAY + timedelta(days=2), time_of_day(), UTC)
    for _fold_then_delete in range(2):
        compact_partition(lake, bench_run.DAY, settled, grace=timedelta(0))
    return lake


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def _sizes(fs: pafs.FileSystem, prefix: str) -> dict[str, int]:
    infos = fs.get_file_info(pafs.FileSelector(prefix, recursive=True))
    return {i.path: i.size for i in infos if i.type == pafs.FileType.File}


def run(
    quick: bool, out: Path, events: int | None = None, delay_ms: float = DEFAULT_DELAY_MS
) -> dict:
    """The day's transform on local disk, then on S3 (moto) through the proxy at 0 ms and at
    `delay_ms`; `out` holds the cached day (shared with bench.run's) and the scratch lakes."""
    events = events or (QUICK_EVENTS if quick else FULL_EVENTS)
    cached = bench_run._prepare(out / "cache" / f"day-{events}", bench_run.DAY, 1, events)
    work = out / "s3"
    ingested = [Path(p) for p in cached.partition_files("bronze_events", bench_run.DAY)]
    local_lake = _compacted_copy(ingested, work / "local")
    bronze = [Path(p) for p in local_lake.partition_files("bronze_events", bench_run.DAY)]

    runs: dict[str, list[dict]] = {"local": [], "s3_0ms": [], "s3": []}
    with moto_server(work / "moto.log") as (moto_endpoint, moto):
        _s3(moto_endpoint).create_dir(BUCKET)
        for n in range(REPEATS):
            runs["local"].append(_stage(local_lake.root, _env()))
            for name, delay in (("s3_0ms", 0), ("s3", delay_ms)):
                run_dir = work / f"{delay:g}ms-{n}"
                runs[name].append(_s3_run(moto_endpoint, moto, bronze, run_dir, delay))
    local, at_0ms, at_delay = (min(r, key=lambda run: run["seconds"]) for r in runs.values())
    return {
        "events": local["events"],
        "bronze_files": len(bronze),
        "ingested_files": len(ingested),
        "bronze_mb": round(sum(p.stat().st_size for p in bronze) / 1e6, 1),
        "delay_ms": delay_ms,
        "head_ms": {"0ms": at_0ms["head_ms"], "delayed": at_delay["head_ms"]},
        "local_s": round(local["seconds"], 2),
        "s3_0ms_s": round(at_0ms["seconds"], 2),
        "s3_s": round(at_delay["seconds"], 2),
        "seconds_each_run": {
            name: [round(run["seconds"], 2) for run in each] for name, each in runs.items()
        },
        "s3_over_local": round(at_delay["seconds"] / local["seconds"], 2),
        # What S3's latency adds, over the local time (its goal in bench/run.py: <= 0.5).
        "latency_over_local": round(
            (at_delay["seconds"] - at_0ms["seconds"]) / local["seconds"], 2
        ),
        "cpu_s": {
            "local": round(local["cpu_seconds"], 2),
            "s3_0ms": round(at_0ms["cpu_seconds"], 2),
            "s3": round(at_delay["cpu_seconds"], 2),
        },
        "moto_cpu_s": at_delay["moto_cpu_s"],
        "requests": at_delay["requests"],
        # Seconds with a request held by the proxy, over the local time: what the latency
        # would add if nothing overlapped it, measured from the requests, not the clock.
        "waiting_s": at_delay["waiting_s"],
        "waiting_over_local": round(at_delay["waiting_s"] / local["seconds"], 2),
        "requests_by_kind": at_delay["requests_by_kind"],
        "requests_by_build": at_delay["requests_by_build"],
        "written_mb": at_delay["written_mb"],
        "steps": {"local": local["steps"], "s3_0ms": at_0ms["steps"], "s3": at_delay["steps"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.s3", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_EVENTS:,} events, not {FULL_EVENTS:,}"
    )
    parser.add_argument("--events", type=int, help="another day size (1000000: the full day)")
    parser.add_argument(
        "--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="S3's latency per request"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick, args.out, args.events, args.delay_ms), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
