"""deploy/helm/values.yaml and deploy/ecs/*.json cannot run here (no cluster, no ECS that runs
tasks): they are loaded and checked against what does run. Each names the project image, the
instance settings of deploy/dagster.yaml, and every variable the code reads, taken from
nelo_assets.environment (AWS access comes from the platform's roles, not variables)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nelo_assets.environment import AWS_VARIABLES, INSTANCE_VARIABLES, pipeline_variables
from nelo_assets_tests.environment import REPO

DEPLOY = REPO / "deploy"
INSTANCE = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
TASKS = sorted((DEPLOY / "ecs").glob("*.json"))
IMAGE = "nelo-pipeline"


def _code_variables() -> set[str]:
    return set(pipeline_variables()) - set(AWS_VARIABLES)


def test_helm_values_name_the_image_instance_and_variables() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"].endswith(f"/{IMAGE}")
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "nelo_assets.definitions"]
    # The chart renders the instance database's variables from the postgresql values.
    named = {variable["name"] for variable in deployment["env"]}
    assert named == _code_variables() - set(INSTANCE_VARIABLES)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["computeLogManager"]["type"] == "S3ComputeLogManager"
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    daemon = values["dagsterDaemon"]
    monitoring = INSTANCE["run_monitoring"]
    assert daemon["runMonitoring"]["pollIntervalSeconds"] == monitoring["poll_interval_seconds"]
    assert (
        daemon["runMonitoring"]["freeSlotsAfterRunEndSeconds"]
        == (monitoring["free_slots_after_run_end_seconds"])
    )
    retries = INSTANCE["run_retries"]
    assert daemon["runRetries"] == {
        "enabled": True,
        "maxRetries": retries["max_retries"],
        "retryOnAssetOrOpFailure": retries["retry_on_asset_or_op_failure"],
    }
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == INSTANCE["concurrency"]["runs"]["max_concurrent_runs"]
    pools = values["additionalInstanceConfig"]["concurrency"]["pools"]
    assert pools == INSTANCE["concurrency"]["pools"]


@pytest.mark.parametrize("path", TASKS, ids=[p.stem for p in TASKS])
def test_ecs_task_definitions_name_the_image_and_variables(path: Path) -> None:
    task = json.loads(path.read_text())
    [container] = task["containerDefinitions"]
    assert container["image"].split("/")[-1].startswith(f"{IMAGE}:")
    env = {variable["name"]: variable["value"] for variable in container["environment"]}
    secrets = {secret["name"] for secret in container["secrets"]}
    assert not set(env) & secrets
    assert _code_variables() <= set(env) | secrets
    assert "DAGSTER_PG_PASSWORD" in secrets  # never a plain value (R8)
    assert env["DAGSTER_CURRENT_IMAGE"] == container["image"]


def test_ecs_has_the_three_services() -> None:
    assert [p.stem for p in TASKS] == ["code-server", "daemon", "webserver"]
