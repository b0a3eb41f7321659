"""The core (everything outside defs/) imports without Dagster and without valid settings.

Plain code must run where Dagster is absent (the ingest CLI, the dashboard, the benchmarks), and
settings are read by whoever runs the code, never at import: a bad NELO_TIMEZONE must fail a
run, not the import of a module that does not use it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Runs in a fresh interpreter: the test session itself has long imported dagster.
PROBE = """
import importlib
import json
import pkgutil
import sys

import nelo_assets

DAGSTER_SIDE = ("nelo_assets.defs", "nelo_assets.definitions")
failures = {}
imported = []
for module in pkgutil.walk_packages(nelo_assets.__path__, "nelo_assets."):
    if module.name in DAGSTER_SIDE or module.name.startswith("nelo_assets.defs."):
        continue
    try:
        importlib.import_module(module.name)
    except Exception as exc:
        failures[module.name] = repr(exc)
    imported.append(module.name)
dagster = sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster_"))
print(json.dumps({"imported": imported, "failures": failures, "dagster": dagster}))
"""


def test_core_modules_import_without_dagster_or_valid_settings() -> None:
    env = {**os.environ, "NELO_TIMEZONE": "Bad/Zone", "NELO_START_DATE": "bad"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "nelo_assets.transform.facts" in report["imported"]
    assert report["failures"] == {}
    assert report["dagster"] == []
