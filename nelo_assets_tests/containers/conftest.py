"""The container tests build the image and run the compose stack for minutes: only
`make test-containers` (pytest -m containers) runs them, serially; `make test` skips them."""

from __future__ import annotations

import pytest

MARKER = "containers"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: runs the compose stack (make test-containers)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MARKER in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="runs the compose stack: make test-containers")
    for item in items:
        if MARKER in item.keywords:
            item.add_marker(skip)
