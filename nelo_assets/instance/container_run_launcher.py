"""The run launcher of the compose stack: Dagster's DockerRunLauncher, each run in its own
container from the stack's image, given what the stack's own containers have.

DockerRunLauncher takes its environment variables, volumes and user from a static config; here
they come from the daemon's environment, which the compose file sets: every variable the code
reads (nelo_assets.environment, passed when set), the lake's folder (NELO_DATA_MOUNT: a host
folder or a volume, at /data), the compute logs volume, and the user owning the lake
(NELO_RUN_USER). Its worker health check is DockerRunLauncher's own (the run's container gone
or exited means a dead worker), so run monitoring fails a killed run container and run retries
re-execute it; its verdict is worded as the local launcher's, so the run alert says RUN DEAD. Every run container carries the label `nelo.stack`, as the stack's own do, so
stopping the stack finds and removes run containers too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from dagster import DagsterRun
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_docker import DockerRunLauncher

from nelo_assets.environment import pipeline_variables
from nelo_assets.instance.run_launcher import DEAD_WORKER

STACK_LABEL = "nelo.stack"
DATA_MOUNT = "NELO_DATA_MOUNT"
RUN_USER = "NELO_RUN_USER"
COMPUTE_LOGS_VOLUME = "nelo-compute-logs:/opt/dagster/compute_logs"


def run_container_kwargs(environ: Mapping[str, str]) -> dict[str, Any]:
    """Volumes, user and label of a run container, from the daemon's environment."""
    volumes = [COMPUTE_LOGS_VOLUME]
    if environ.get(DATA_MOUNT):
        volumes.append(f"{environ[DATA_MOUNT]}:/data")
    kwargs: dict[str, Any] = {
        "volumes": volumes,
        "labels": {STACK_LABEL: "nelo"},
        # A finished run's container goes (its logs are in the compute logs volume); a killed
        # one too, which the health check reports as gone.
        "auto_remove": True,
    }
    if environ.get(RUN_USER):
        kwargs["user"] = environ[RUN_USER]
    return kwargs


class ContainerRunLauncher(DockerRunLauncher):
    """DockerRunLauncher configured from the stack's environment (see the module doc)."""

    def __init__(self, inst_data: Any = None, **config: Any) -> None:
        environ = os.environ
        configured = list(config.pop("env_vars", None) or [])
        passed = [name for name in pipeline_variables() if name in environ]
        kwargs = run_container_kwargs(environ) | dict(config.pop("container_kwargs", None) or {})
        super().__init__(
            inst_data=inst_data,
            env_vars=list(dict.fromkeys(configured + passed)),
            container_kwargs=kwargs,
            **config,
        )

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        health = super().check_run_worker_health(run)
        if health.status in (WorkerStatus.FAILED, WorkerStatus.NOT_FOUND):
            return health._replace(msg=f"{DEAD_WORKER}: {health.msg}")
        return health
