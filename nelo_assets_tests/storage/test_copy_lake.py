"""Moving a local lake to S3 (moto's server) with one command: copied, verified, then readable
as the lake at NELO_LAKE_URL; mistakes are one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from nelo_assets.ingestion.bronze import read_bronze, read_quarantine
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.copy_lake import main
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.pipeline import build_everything
from nelo_assets_tests.environment import REPO, settings_for

DAY = date(2026, 3, 1)


def test_a_local_lake_is_copied_verified_and_read_from_s3(
    tmp_path: Path, s3_lake_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_for(tmp_path / "data")
    local = Lake.from_settings(settings)
    write_archive(
        SimulationConfig(start=DAY, days=1, events_per_day=60, users=8), local.landing_dir
    )
    build_everything(local, settings, [DAY])

    assert main([s3_lake_url, "--from", str(local.root)]) == 0
    assert "copied and verified" in capsys.readouterr().out

    remote = Lake.from_settings(settings_for(tmp_path / "data", lake_url=s3_lake_url))
    assert read_bronze(remote, [DAY]).equals(read_bronze(local, [DAY]))
    assert (
        read_quarantine(
            remote,
        ).height
        == read_quarantine(local).height
    )
    assert remote.table_file("dim_users").read_bytes() == local.table_file("dim_users").read_bytes()
    # A second copy into the same prefix is refused rather than mixed with the first.
    assert main([s3_lake_url, "--from", str(local.root)]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/tmp/not-s3"], "is not an s3://bucket/prefix URL"),
        (["s3://nelo-lake/x", "--from", "/nonexistent"], "holds no lake"),
    ],
)
def test_mistakes_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nelo_assets.storage.copy_lake", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
