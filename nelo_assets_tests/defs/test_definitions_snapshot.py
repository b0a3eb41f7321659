"""The asset graph as data, compared with a committed snapshot: a guard against unintended changes.

A change that alters the graph on purpose regenerates the snapshot in the same commit
(`make snapshot`) and says why in its message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "definitions.json"


def _mapping(mapping: Any) -> str:
    offsets = [
        f"{name}={getattr(mapping, name)}"
        for name in ("start_offset", "end_offset")
        if hasattr(mapping, name)
    ]
    return f"{type(mapping).__name__}({', '.join(offsets)})"


def _partitions(partitions_def: Any) -> str | None:
    return None if partitions_def is None else str(partitions_def)


def _label(condition: Any) -> str | None:
    return None if condition is None else (condition.get_label() or condition.name)


def describe_definitions() -> dict[str, Any]:
    """Everything about the graph a user or the daemon relies on, as sorted, comparable JSON."""
    from nelo_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "partitions": _partitions(node.partitions_def),
            "automation_condition": _label(node.automation_condition),
            "backfill_policy": str(node.backfill_policy) if node.backfill_policy else None,
            "pools": sorted(node.pools or []),
            "deps": {
                parent.to_user_string(): _mapping(node.partition_mappings[parent])
                if parent in node.partition_mappings
                else None
                for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string())
            },
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        check = graph.get(check_key)
        checks[check_key.to_user_string()] = {
            "asset": check_key.asset_key.to_user_string(),
            "severity": check.metadata.get("severity"),
            "blocking": check.blocking,
            "partitions": _partitions(check.partitions_def),
            "automation_condition": _label(check.automation_condition),
        }
    sensors = {
        sensor.name: {
            "type": type(sensor).__name__,
            "default_status": sensor.default_status.value,
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "jobs": sorted(job.name for job in sensor.jobs) if sensor.has_jobs else [],
        }
        for sensor in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    jobs = {}
    for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue  # Dagster's implicit asset job
        jobs[job.name] = {
            "partitions": _partitions(job.partitions_def),
            "ops": sorted(node.name for node in job.graph.node_defs),
            "pools": sorted(
                {node.pool for node in job.graph.node_defs if getattr(node, "pool", None)}
            ),
        }
    return {"assets": assets, "checks": checks, "sensors": sensors, "jobs": jobs}


def _describe_in_clean_env() -> dict[str, Any]:
    # A fresh interpreter with the shipped defaults: the graph, not this shell's NELO_* settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("NELO_")}
    out = subprocess.run(
        [sys.executable, __file__], env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_definitions_match_the_snapshot() -> None:
    expected = json.loads(SNAPSHOT.read_text())
    actual = _describe_in_clean_env()
    for section in expected:
        assert actual[section] == expected[section], (
            f"the {section} of the graph changed; if on purpose, run `make snapshot` "
            "and say why in the commit"
        )
    assert set(actual) == set(expected)


def test_the_snapshot_sees_every_part_of_the_graph() -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    assert len(snapshot["assets"]) == 12
    assert len(snapshot["checks"]) == 37
    assert {
        "sqs_sensor",
        "automation",
        "check_alert_sensor",
        "run_alert_sensor",
        "pipeline_health_sensor",
    } <= set(snapshot["sensors"])
    assert snapshot["assets"]["fact_event_items"]["deps"]["silver_items"].startswith(
        "TimeWindowPartitionMapping(start_offset=-7"
    )
    assert all(check["severity"] in ("ERROR", "WARN") for check in snapshot["checks"].values())


if __name__ == "__main__":
    print(json.dumps(describe_definitions(), indent=2, sort_keys=True))
