"""The Dagster backfill benchmark: the same date range, bronze rebuilt from the landing archive to
the marts with every partitioned check evaluated on every day, once as the UI launches a backfill
of `daily_pipeline` (the real daemon, the repo's dagster.yaml, the backfill submitted through the
webserver's GraphQL API) and once by the plain pipeline and the same checks in one process. The
ratio of the two is what Dagster's orchestration costs.

Usage: python -m bench.backfill [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from itertools import pairwise
from pathlib import Path

from dagster import AssetCheckResult, AssetKey, DagsterInstance, RunsFilter

from nelo_assets.definitions import defs
from nelo_assets.defs.bronze.checks import bronze_day_results
from nelo_assets.defs.common import BACKFILL_CHUNK_DAYS
from nelo_assets.defs.gold.checks import fact_event_items_day_results, fact_events_day_results
from nelo_assets.defs.jobs import DAILY_PIPELINE_ASSETS
from nelo_assets.defs.marts.checks import ITEM_LIST, LIST_POSITION, PRODUCT, mart_day_results
from nelo_assets.defs.resources import ChecksResource, LakeResource
from nelo_assets.defs.silver.checks import silver_day_results
from nelo_assets.ingestion.bronze import rebuild_bronze_partitions, route_landing_file
from nelo_assets.ingestion.landing import iter_landing_files
from nelo_assets.settings import Settings
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect
from nelo_assets.transform.pipeline import build_partitions

REPO = Path(__file__).resolve().parent.parent
START = "2026-01-01"
FIRST_DAY = date(2026, 5, 1)
MARTS = ("mart_item_list_daily", "mart_product_daily", "mart_list_position_daily")
GOAL = 1.5
# The location `dagster dev -m` names after the module, and the repository of a Definitions.
LOCATION = "nelo_assets.definitions"
REPOSITORY = "__repository__"


@dataclass(frozen=True)
class Volumes:
    days: int
    events_per_day: int


FULL = Volumes(30, 50_000)
QUICK = Volumes(3, 2_000)


def _settings(data_dir: Path) -> Settings:
    return Settings.from_env({"NELO_DATA_DIR": str(data_dir), "NELO_START_DATE": START})


def _landing(cache: Path, volumes: Volumes) -> Path:
    """A routed landing archive for the range (markers written, as the live path leaves it),
    built once and reused: rebuilding bronze then reads each file for its own dates only."""
    root = cache / f"backfill-{volumes.days}x{volumes.events_per_day}"
    landing = Lake(root).landing_dir
    if (root / "landing.done").exists():
        return landing
    shutil.rmtree(root, ignore_errors=True)
    print(f"  simulating {volumes.days} x {volumes.events_per_day} events ...", flush=True)
    config = SimulationConfig(
        start=FIRST_DAY, days=volumes.days, events_per_day=volumes.events_per_day, seed=42
    )
    write_archive(config, landing)
    settings = _settings(root)
    for path in iter_landing_files(landing):
        route_landing_file(Lake(root), settings, path)
    (root / "landing.done").touch()
    return landing


def _fresh_lake(root: Path, landing: Path) -> Lake:
    """An empty lake whose landing archive is the cached one (rebuilds only read it)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "landing").symlink_to(landing, target_is_directory=True)
    return Lake(root)


def daily_checks(lake: Lake) -> list[Callable[[date], Iterable[AssetCheckResult]]]:
    """Every partitioned check's evaluation of one day, as the backfill's runs evaluate it,
    without Dagster: bronze, silver, the facts, then the marts."""
    resource = LakeResource.from_settings(_settings(lake.root))
    return [
        partial(bronze_day_results, resource),
        partial(silver_day_results, resource, ChecksResource()),
        partial(fact_events_day_results, resource),
        partial(fact_event_items_day_results, resource),
        *(
            partial(mart_day_results, resource, mart)
            for mart in (ITEM_LIST, PRODUCT, LIST_POSITION)
        ),
    ]


def daily_check_names() -> set[str]:
    """The partitioned checks of the code location: what a backfill's runs evaluate."""
    graph = defs.resolve_asset_graph()
    return {key.name for key in graph.asset_check_keys if graph.get(key).partitions_def}


def plain(lake: Lake, days: list[date]) -> dict[str, float]:
    """The same work in this process, seconds by part: bronze from the landing archive, silver
    to the marts, then every partitioned check on every day (the backfill's runs evaluate them
    too, so both sides do the same work)."""
    settings = _settings(lake.root)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    rebuild_bronze_partitions(lake, settings, days)
    seconds["bronze"] = time.perf_counter() - started
    build_partitions(lake, settings, days)
    seconds["transform"] = time.perf_counter() - started - seconds["bronze"]
    evaluated = {
        result.check_name
        for day_results in daily_checks(lake)
        for day in days
        for result in day_results(day)
    }
    seconds["checks"] = time.perf_counter() - started - seconds["bronze"] - seconds["transform"]
    if missed := daily_check_names() - evaluated:
        raise RuntimeError(f"the plain side does not evaluate these checks: {sorted(missed)}")
    seconds["total"] = time.perf_counter() - started
    return seconds


class Webserver:
    """`dagster dev` (webserver, daemon, code server) on a temporary DAGSTER_HOME holding the
    repo's dagster.yaml, and its GraphQL API."""

    def __init__(self, home: Path, data_dir: Path, log: Path, port: int = 3399) -> None:
        shutil.rmtree(home, ignore_errors=True)  # a new instance: no runs or materializations
        home.mkdir(parents=True)
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NELO_", "DAGSTER_"))}
        env.update(DAGSTER_HOME=str(home), NELO_DATA_DIR=str(data_dir), NELO_START_DATE=START)
        self.home, self.url = home, f"http://127.0.0.1:{port}/graphql"
        dagster = Path(sys.executable).parent / "dagster"
        self._log = log.open("w")
        # Its own session, so stopping it stops the daemon and code server it started.
        self.process = subprocess.Popen(
            [str(dagster), "dev", "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def query(self, text: str, **variables: object) -> dict:
        body = json.dumps({"query": text, "variables": variables}).encode()
        request = urllib.request.Request(
            self.url, body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(answer["errors"])
        return answer["data"]

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the code location has loaded (the UI's first page could launch a backfill)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}")
            try:
                sensors = self._sensors()
                if sensors:
                    return
            except (OSError, RuntimeError, KeyError, TypeError):
                pass
            time.sleep(0.5)
        raise TimeoutError("dagster dev did not load the code location")

    def _sensors(self) -> list[dict]:
        data = self.query(
            """query($selector: RepositorySelector!) {
              sensorsOrError(repositorySelector: $selector) {
                ... on Sensors { results { name sensorState { id status } } }
              }
            }""",
            selector={"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY},
        )
        return data["sensorsOrError"]["results"]

    def stop_sensors(self) -> list[str]:
        """Stop every sensor, as a person would in the UI, so only the backfill's runs build:
        automation would also rebuild the dimensions and views, which the plain side does not."""
        stopped = []
        for sensor in self._sensors():
            if sensor["sensorState"]["status"] == "RUNNING":
                self.query(
                    "mutation($id: String!) { stopSensor(id: $id) { __typename } }",
                    id=sensor["sensorState"]["id"],
                )
                stopped.append(sensor["name"])
        return stopped

    def launch_backfill(self, job: str, partitions: list[str]) -> str:
        """What Jobs -> `job` -> Materialize -> a date range -> Launch backfill sends (the UI's
        LaunchAssetChoosePartitionsDialog on a job page): a backfill of the job's partition set,
        which the daemon submits as runs of the backfill policy's chunks."""
        data = self.query(
            """mutation($params: LaunchBackfillParams!) {
              launchPartitionBackfill(backfillParams: $params) {
                __typename
                ... on LaunchBackfillSuccess { backfillId }
                ... on PythonError { message }
              }
            }""",
            params={
                "selector": {
                    "partitionSetName": f"{job}_partition_set",
                    "repositorySelector": {
                        "repositoryLocationName": LOCATION,
                        "repositoryName": REPOSITORY,
                    },
                },
                "assetSelection": [{"path": [name]} for name in DAILY_PIPELINE_ASSETS],
                "partitionNames": partitions,
                "fromFailure": False,
                "title": f"bench: {job} backfill",
            },
        )["launchPartitionBackfill"]
        if "backfillId" not in data:
            raise RuntimeError(f"backfill not launched: {data}")
        return data["backfillId"]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def _wait(done: Callable[[], bool], deadline: float) -> float:
    """Poll `done` until it holds; the moment it was first seen to hold."""
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("the backfill did not finish in time")
        time.sleep(0.5)
    return time.perf_counter()


def dagster_backfill(work: Path, lake: Lake, days: list[date], timeout: float) -> dict:
    """Submit the backfill through the webserver and time it to the last mart partition."""
    partitions = [day.isoformat() for day in days]
    server = Webserver(work / "dagster_home", lake.root, work / "dagster-dev.log")
    try:
        server.wait_ready()
        stopped = server.stop_sensors()
        instance = DagsterInstance.from_config(str(server.home))
        started = time.perf_counter()
        backfill_id = server.launch_backfill("daily_pipeline", partitions)
        deadline = started + timeout
        to_last_mart = _wait(
            lambda: all(
                set(partitions) <= instance.get_materialized_partitions(AssetKey(mart))
                for mart in MARTS
            ),
            deadline,
        )
        # Then until every run of the backfill has ended (the marts' checks run last).
        backfill_filter = RunsFilter(tags={"dagster/backfill": backfill_id})
        to_end = _wait(
            lambda: all(run.is_finished for run in instance.get_runs(filters=backfill_filter)),
            deadline,
        )
        records = instance.get_run_records(filters=backfill_filter, ascending=True)
        submitted = time.time() - (time.perf_counter() - started)
        return {
            "seconds": to_last_mart - started,
            "seconds_to_runs_end": to_end - started,
            "runs": len(records),
            "failed_runs": sum(1 for r in records if r.dagster_run.is_failure),
            # Each chunk's range, and when its run started and ended after the submission.
            "chunks": [
                {
                    "range": "...".join(
                        r.dagster_run.tags.get(f"dagster/asset_partition_range_{end}", "")
                        for end in ("start", "end")
                    ),
                    "started_s": round((r.start_time or submitted) - submitted, 1),
                    "ended_s": round((r.end_time or submitted) - submitted, 1),
                }
                for r in records
            ],
            "backfill_id": backfill_id,
            "sensors_stopped": stopped,
            "breakdown": _breakdown(instance, records, submitted),
        }
    finally:
        server.stop()


def _breakdown(instance: DagsterInstance, records: list, submitted: float) -> dict[str, float]:
    """Where the backfill's time went: until the daemon's first run started (its backfill loop
    runs every 30 s), the runs' steps (checks apart), and the rest of the runs (process start,
    code import, bookkeeping between steps)."""
    steps = {"asset_steps_s": 0.0, "check_steps_s": 0.0}
    for record in records:
        for stats in instance.get_run_step_stats(record.dagster_run.run_id):
            if stats.start_time and stats.end_time:
                part = "check_steps_s" if stats.step_key.endswith("_checks") else "asset_steps_s"
                steps[part] += stats.end_time - stats.start_time
    runs_s = sum((r.end_time or 0) - (r.start_time or 0) for r in records)
    first_start = min((r.start_time for r in records if r.start_time), default=submitted)
    return {
        "to_first_run_start_s": round(first_start - submitted, 1),
        **{k: round(v, 1) for k, v in steps.items()},
        "runs_outside_steps_s": round(runs_s - sum(steps.values()), 1),
        "between_runs_s": round(
            sum(
                (later.start_time or 0) - (earlier.end_time or 0)
                for earlier, later in pairwise(records)
            ),
            1,
        ),
    }


def run(quick: bool, out: Path) -> dict:
    """Both sides on the same range; `out` holds the cached inputs and the scratch lakes.

    Full: 30 days x 50,000 events (three chunks); quick: 3 days x 2,000 (one chunk: the same
    path, where the daemon's fixed costs dominate).
    """
    return measure(QUICK if quick else FULL, out)


def measure(volumes: Volumes, out: Path) -> dict:
    days = [FIRST_DAY + timedelta(days=n) for n in range(volumes.days)]
    landing = _landing(out / "cache", volumes)
    work = out / "backfill"
    print(f"dagster backfill of {volumes.days} days through the daemon:", flush=True)
    dagster = dagster_backfill(
        work, _fresh_lake(work / "dagster_data", landing), days, timeout=3600
    )
    print(f"  {dagster['seconds']:.1f} s in {dagster['runs']} runs", flush=True)
    print("plain pipeline, one process:", flush=True)
    plain_s = plain(_fresh_lake(work / "plain_data", landing), days)
    print(f"  {plain_s['total']:.1f} s", flush=True)
    # Like with like: both sides rebuild bronze, build silver to the marts and check every day.
    ratio = dagster["seconds_to_runs_end"] / plain_s["total"]
    differ = _differing_mart_days(work / "dagster_data", work / "plain_data", days)
    return {
        "days": volumes.days,
        "events_per_day": volumes.events_per_day,
        "chunk_days": BACKFILL_CHUNK_DAYS,
        "dagster_backfill_s": round(dagster["seconds_to_runs_end"], 1),
        "dagster_to_last_mart_s": round(dagster["seconds"], 1),
        "dagster_runs": dagster["runs"],
        "dagster_failed_runs": dagster["failed_runs"],
        "dagster_breakdown_s": dagster["breakdown"],
        "plain_s": round(plain_s["total"], 1),
        "plain_breakdown_s": {k: round(v, 1) for k, v in plain_s.items() if k != "total"},
        "dagster_backfill_vs_plain": round(ratio, 2),
        # The same ratio against the builds alone, as the plain pipeline ran before it checked.
        "dagster_backfill_vs_plain_without_checks": round(
            dagster["seconds_to_runs_end"] / (plain_s["total"] - plain_s["checks"]), 2
        ),
        "goal": GOAL,
        "sensors_stopped": dagster["sensors_stopped"],
        "chunks": dagster["chunks"],
        # Days whose marts differ between the two sides (a chunk that read a neighbour too early).
        "mart_days_differing": differ,
    }


def _differing_mart_days(left: Path, right: Path, days: list[date]) -> list[str]:
    tables = ("mart_item_list_daily", "mart_product_daily_metrics", "mart_list_position_daily")
    differing = set()
    with connect() as con:
        for table in tables:
            for day in days:
                a, b = (str(Lake(root).partition_file(table, day)) for root in (left, right))
                ((count,),) = con.execute(
                    "select count(*) from ((from read_parquet(?) except all from read_parquet(?))"
                    " union all (from read_parquet(?) except all from read_parquet(?)))",
                    [a, b, b, a],
                ).fetchall()
                if count:
                    differing.add(day.isoformat())
    return sorted(differing)


def _parts(seconds: dict[str, float]) -> str:
    return ", ".join(
        f"{name.removesuffix('_s').replace('_', ' ')} {value}" for name, value in seconds.items()
    )


def report_lines(results: dict) -> list[str]:
    """bench/report.md's section: both sides, where the time went, and what bounds the ratio."""
    d, p = results["dagster_breakdown_s"], results["plain_breakdown_s"]
    chunks = ", ".join(
        f"{c['range']} ({c['started_s']:.0f} to {c['ended_s']:.0f} s)" for c in results["chunks"]
    )
    lines = [
        "## Backfill through Dagster beside the plain pipeline",
        "",
        f"{results['days']} days of {results['events_per_day']:,} events, bronze rebuilt from "
        "the landing archive, silver to the marts, and every partitioned check on every day "
        "(`bench/backfill.py`, `python -m bench.backfill`). Dagster: the backfill of "
        "`daily_pipeline` submitted as the UI does (the webserver's GraphQL API) to `dagster "
        "dev` with the repo's dagster.yaml, timed until its last run ended (the last mart "
        f"partition landed at {results['dagster_to_last_mart_s']:.1f} s, before its checks). "
        "Plain: the same functions and checks in one process.",
        "",
        "| side | seconds | runs | where the time went (s) |",
        "|---|---|---|---|",
        f"| Dagster backfill | {results['dagster_backfill_s']:.1f} | {results['dagster_runs']} "
        f"| {_parts(d)} |",
        f"| plain, one process | {results['plain_s']:.1f} | - | {_parts(p)} |",
        "",
        f"Ratio: **{results['dagster_backfill_vs_plain']}** (goal at most {results['goal']}); "
        f"against the plain builds without their checks, "
        f"{results['dagster_backfill_vs_plain_without_checks']}. Chunks of "
        f"{results['chunk_days']} days, one run each, one at a time: {chunks}. Mart days that "
        f"differ between the two sides: {results['mart_days_differing'] or 'none'}; failed "
        f"runs: {results['dagster_failed_runs']}.",
        "",
        "### What bounds the backfill ratio",
        "",
        f"- {d['to_first_run_start_s']:.0f} s pass before the first run starts: Dagster's "
        "backfill daemon looks for new backfills every 30 s (a constant in Dagster, not a "
        "setting), and the run then starts in a new process. A backfill submitted right after "
        "the daemon's last look waits the whole interval.",
        f"- The checks take {d['check_steps_s']:.0f} s in the runs against "
        f"{p['checks']:.0f} s in one process, where the same functions open the same views per "
        "day. In the runs each evaluation, one per check and day, is also an event written to "
        "the instance so the UI shows every day's result; that part is not measured apart.",
        f"- The builds take {d['asset_steps_s']:.0f} s in the runs against "
        f"{p['bronze'] + p['transform']:.0f} s in one process; the runs spend "
        f"{d['runs_outside_steps_s']:.0f} s outside their steps (process start, code import, "
        f"bookkeeping) and {d['between_runs_s']:.0f} s pass between one chunk's end and the "
        "next one's start (the run queue is read every second).",
        "- The rest is the work itself: the bronze rebuild parses every landing file once per "
        "chunk in Python (the contract's checks per message), the largest part on both sides.",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.backfill", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 days x 2,000 events")
    parser.add_argument("--days", type=int, help="another range: this many days ...")
    parser.add_argument("--events-per-day", type=int, default=5_000, help="... of this many events")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = parser.parse_args(argv)
    if args.days:
        results = measure(Volumes(args.days, args.events_per_day), args.out)
    else:
        results = run(args.quick, args.out)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
