"""deploy/: the production instance loads on a real PostgreSQL and keeps the root dagster.yaml's
pools and run monitoring; the compose file, the Dockerfile and the workspace say what
docs/deploy.md says. Docker cannot run here: what is checked is what can be."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from nelo_assets.service.prod import write_instance_yaml
from nelo_assets_tests.environment import REPO

DEPLOY = REPO / "deploy"
PRODUCTION = DEPLOY / "dagster.yaml"
COMPOSE_INSTANCE = DEPLOY / "docker" / "dagster.yaml"


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _instance_from(config_file: Path, home: Path) -> dg.DagsterInstance:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(config_file, home / "dagster.yaml")
    return dg.DagsterInstance.from_config(str(home))


@pytest.mark.parametrize(
    "config_file", [PRODUCTION, COMPOSE_INSTANCE], ids=["production", "compose"]
)
def test_instance_config_loads_on_postgres(
    config_file: Path,
    postgres_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NELO_COMPUTE_LOGS_BUCKET", "nelo-compute-logs-test")
    with _instance_from(config_file, tmp_path / "home") as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        # The storage answers: the schema was created in the test database.
        assert instance.get_runs_count() == 0
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 8
        assert concurrency.pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled


def test_make_prod_instance_keeps_compute_logs_locally(
    postgres_env: dict[str, str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write_instance_yaml(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.compute_log_manager).__name__ == "LocalComputeLogManager"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"


def test_production_keeps_the_root_pools_and_run_monitoring() -> None:
    root = _load(REPO / "dagster.yaml")
    # One host: the same run launcher as make dev (ECS and Kubernetes replace it).
    assert _load(PRODUCTION).get("run_launcher") == root.get("run_launcher")
    for config_file in (PRODUCTION, COMPOSE_INSTANCE):
        config = _load(config_file)
        assert config["run_monitoring"] == root["run_monitoring"], config_file
        assert config.get("run_retries") == root.get("run_retries"), config_file
        assert config["concurrency"]["pools"] == root["concurrency"]["pools"], config_file
        # Credentials only as environment references (R8).
        postgres_db = config["storage"]["postgres"]["postgres_db"]
        assert postgres_db["scheme"] == "postgresql+psycopg2"
        for key in ("hostname", "port", "username", "password", "db_name"):
            assert set(postgres_db[key]) == {"env"}, (config_file, key)


def test_compose_instance_differs_only_in_launcher_and_compute_logs() -> None:
    production, compose = _load(PRODUCTION), _load(COMPOSE_INSTANCE)
    assert compose["run_launcher"]["class"] == "ContainerRunLauncher"
    assert compose["compute_logs"]["class"] == "LocalComputeLogManager"
    for key in ("run_launcher", "compute_logs"):
        production.pop(key, None)
        compose.pop(key)
    assert compose == production


def test_compose_file_names_the_services_and_mounts_the_instance() -> None:
    compose = _load(DEPLOY / "docker-compose.yaml")
    assert set(compose["services"]) == {"postgres", "code_server", "webserver", "daemon"}
    for name in ("code_server", "webserver", "daemon"):
        service = compose["services"][name]
        assert "./docker/dagster.yaml:/opt/dagster/home/dagster.yaml:ro" in service["volumes"]
        assert service["environment"]["NELO_CODE_SERVER_HOST"] == "code_server"
    assert "code-server start" in compose["services"]["code_server"]["command"]
    assert compose["services"]["daemon"]["command"].startswith("dagster-daemon run")
    assert compose["services"]["webserver"]["command"].startswith("dagster-webserver")


def test_dockerfile_installs_the_pinned_versions() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    [install] = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert "-c constraints.txt" in install
    assert "COPY pyproject.toml constraints.txt" in dockerfile


def test_workspace_points_at_a_separate_code_server(monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = _load(DEPLOY / "workspace.yaml")
    [location] = workspace["load_from"]
    assert location["grpc_server"]["host"] == {"env": "NELO_CODE_SERVER_HOST"}
    assert location["grpc_server"]["port"] == {"env": "NELO_CODE_SERVER_PORT"}
