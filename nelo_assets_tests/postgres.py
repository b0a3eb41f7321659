"""PostgreSQL for the tests: one throwaway cluster per test process (session), a fresh database
per test, and instances on it configured like deploy/dagster.yaml.

Skips with the reason when PostgreSQL is not installed, except in CI (CI set), where
`make test` installs it (.ci/ensure-postgresql) and a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from nelo_assets.service.postgres import LocalCluster, bin_dir
from nelo_assets_tests.environment import free_port


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[LocalCluster]:
    if bin_dir() is None:
        if os.environ.get("CI"):
            pytest.fail(
                "PostgreSQL is not installed: `make test` installs it (.ci/ensure-postgresql)"
            )
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; make test does it)")
    # Under /tmp, not pytest's tmp_path: the postgres user must be able to reach the folder.
    directory = Path(tempfile.mkdtemp(prefix="nelo-test-pg-")) / "cluster"
    directory.parent.chmod(0o755)
    cluster = LocalCluster(directory, free_port(), fsync=False)
    try:
        server = cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop(server)
    finally:
        shutil.rmtree(directory.parent, ignore_errors=True)


@pytest.fixture
def postgres_env(postgres_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh database; the DAGSTER_PG_* variables deploy/dagster.yaml reads are set to it."""
    name = f"t_{uuid4().hex[:12]}"
    postgres_cluster.create_database(name)
    env = postgres_cluster.environment(name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def postgres_storage() -> dict:
    """The `storage:` block of deploy/dagster.yaml (env references, psycopg2 scheme)."""
    import yaml

    from nelo_assets_tests.environment import REPO

    return yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())["storage"]
