"""nelo_assets.environment names every variable the code reads: run containers, ECS tasks and
pods are given that list, so a variable the code reads but the list misses would silently take
its default in a run while the code server used the set value."""

from __future__ import annotations

import re

from nelo_assets.environment import pipeline_variables
from nelo_assets_tests.environment import REPO

# Read only by the launchers of this machine's services (ports, homes) and the workspace, or a
# test hook (the ingest pause points), never by a run.
SERVICE_ONLY = re.compile(
    r"NELO_(PROD|DEMO|DASHBOARD|UI_PORT|CODE_SERVER|COMPOSE|RUN_|DATA_MOUNT|INGEST_PAUSE_AT)"
)
NAME = re.compile(r"""["'](NELO_[A-Z_]+|AWS_[A-Z_]+|DAGSTER_PG_[A-Z]+)["']""")


def test_every_variable_the_code_reads_is_listed() -> None:
    read: set[str] = set()
    for path in (REPO / "nelo_assets").rglob("*.py"):
        if "service" in path.parts:
            continue
        read.update(NAME.findall(path.read_text()))
    for path in (REPO / "deploy").glob("*.yaml"):
        read.update(re.findall(r"env: (\w+)", path.read_text()))
    missing = {name for name in read if not SERVICE_ONLY.match(name)} - set(pipeline_variables())
    assert not missing


def test_settings_variables_come_first_without_repeats() -> None:
    names = pipeline_variables()
    assert names[0] == "NELO_DATA_DIR"
    assert len(names) == len(set(names))
