"""The serving tests' fixture: the dashboard's sample lake, built once per run."""

from __future__ import annotations

import os

import pytest

from nelo_assets.serving.dashboard.sample import build_sample_lake
from nelo_assets.storage.lake import Lake


@pytest.fixture(scope="session")
def dashboard_sample(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The simulated sample lake the dashboard tests read (nelo_assets.serving.dashboard.sample)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run: built once
    return build_sample_lake(root / "dashboard_sample")
