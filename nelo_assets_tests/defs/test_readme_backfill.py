"""The README's shell backfill, run as written in a fresh clone with nothing else running: the
range's marts are built, in one run recorded in the instance `make demo` leaves."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.lake import Lake
from nelo_assets_tests.environment import REPO

README_RANGE = ("2026-11-01", "2026-11-14")
MARTS = ("mart_item_list_daily", "mart_product_daily_metrics", "mart_list_position_daily")


def _backfill_script() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Backfills", 1)[1].split("\n### ", 1)[0]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_readme_backfill_command_builds_the_range_in_one_run(tmp_path: Path) -> None:
    # Recent days, within the shipped partitions whatever today is; the README's dates stand for
    # them (they are only an example).
    first = date.today() - timedelta(days=12)
    days = [first + timedelta(days=n) for n in range(3)]
    script = _backfill_script()
    for example, real in zip(README_RANGE, (days[0], days[-1]), strict=True):
        assert example in script
        script = script.replace(example, real.isoformat())

    # A fresh clone after `make demo`: the venv, a landing archive in ./data, and .dagster_home
    # holding the repo's dagster.yaml; no daemon, no shell variables of ours.
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
    (clone / ".dagster_home").mkdir()
    (clone / ".dagster_home" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    lake = Lake(clone / "data")
    config = SimulationConfig(start=days[0], days=len(days), events_per_day=60, users=20)
    write_archive(config, lake.landing_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NELO_", "DAGSTER_", "AWS_"))}

    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    for table in MARTS:
        for day in days:
            assert lake.partition_file(table, day).exists(), (table, day)
    with DagsterInstance.from_config(str(clone / ".dagster_home")) as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
        keys = {day.isoformat() for day in days}
        assert instance.get_materialized_partitions(AssetKey("mart_item_list_daily")) == keys
