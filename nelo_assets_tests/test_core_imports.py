"""The package's floors: the core, then the Dagster side, then the service launchers.

Plain code must run where Dagster is absent (the ingest CLI, the dashboard, the benchmarks), and
settings are read by whoever runs the code, never at import: a bad NELO_TIMEZONE must fail a
run, not the import of a module that does not use it. Every import, those inside functions
too, goes down a floor or stays on its own, and no package imports one that imports it back
(docs/contributing.md).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import nelo_assets

PACKAGE_DIR = Path(nelo_assets.__file__).parent
# The floor of each unit (a subpackage or a top-level module); any unit not named is core (0).
FLOORS = {"instance": 1, "defs": 1, "definitions": 1, "service": 2}
FLOOR_NAMES = {0: "core", 1: "Dagster side", 2: "service"}

# Runs in a fresh interpreter: the test session itself has long imported dagster.
PROBE = """
import importlib
import json
import pkgutil
import sys

import nelo_assets

NOT_CORE = ("nelo_assets.instance", "nelo_assets.defs", "nelo_assets.definitions",
            "nelo_assets.service")
failures = {}
imported = []
for module in pkgutil.walk_packages(nelo_assets.__path__, "nelo_assets."):
    if any(module.name == p or module.name.startswith(p + ".") for p in NOT_CORE):
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


def _unit(module: str) -> str:
    """`nelo_assets.transform.facts` -> `transform`; `nelo_assets.settings` -> `settings`."""
    return module.split(".")[1]


def _imports(path: Path) -> set[str]:
    """Every nelo_assets module `path` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from nelo_assets import x` imports the unit x itself.
            if node.module == "nelo_assets":
                names.update(f"nelo_assets.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return {name for name in names if name.startswith("nelo_assets.")}


def _unit_imports() -> dict[str, set[tuple[str, str]]]:
    """Each unit's imports of other units, as (importing file, imported module)."""
    edges: dict[str, set[tuple[str, str]]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        relative = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        if module == "nelo_assets":
            continue
        unit = _unit(module)
        for imported in _imports(path):
            if _unit(imported) != unit:
                edges.setdefault(unit, set()).add((str(relative), imported))
    return edges


def test_every_import_goes_down_a_floor_or_stays() -> None:
    edges = _unit_imports()
    assert "service" in edges, "the launchers import the core: the walk found nothing"
    upward = [
        f"{source} ({FLOOR_NAMES[FLOORS.get(unit, 0)]}) imports {imported} "
        f"({FLOOR_NAMES[FLOORS.get(_unit(imported), 0)]})"
        for unit, pairs in edges.items()
        for source, imported in sorted(pairs)
        if FLOORS.get(_unit(imported), 0) > FLOORS.get(unit, 0)
    ]
    assert upward == []


def test_no_package_imports_one_that_imports_it() -> None:
    graph = {
        unit: {_unit(imported) for _, imported in pairs} for unit, pairs in _unit_imports().items()
    }
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"packages import each other: {' -> '.join(exc.args[1])}") from None
    assert order.index("storage") < order.index("transform") < order.index("defs")


def test_the_import_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    module.write_text(
        "def f():\n    from nelo_assets.defs.jobs import X\n    import nelo_assets.service.demo\n"
    )
    assert _imports(module) == {"nelo_assets.defs.jobs", "nelo_assets.service.demo"}
