"""`make prod`: the production process layout on one machine, from deploy/.

PostgreSQL (a local cluster under $NELO_PROD_HOME unless DAGSTER_PG_HOST names a server), the code
server, `dagster-webserver` and `dagster-daemon` as separate processes sharing the instance of
deploy/dagster.yaml, against the queue NELO_SQS_QUEUE_URL names; without one, the demo's local
SQS server (moto) with live simulated traffic, so it runs with no AWS account. The lake is in
NELO_DATA_DIR, or on S3 where NELO_LAKE_URL says (every process reads the same variables). The
same sensors and automation as `make dev`. Ctrl-C stops every process; running it again resumes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from nelo_assets.service import processes
from nelo_assets.service.postgres import PG_HOST, LocalCluster, PostgresError
from nelo_assets.service.traffic import start_live_traffic
from nelo_assets.serving.analytics import publish_views
from nelo_assets.settings import DEMO_QUEUE_NAME, DEMO_SQS_PORT, Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.objects import LakeLocationError

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's dagster-webserver and dagster-daemon
DEPLOY = REPO / "deploy"
PG_DATABASE = "dagster"
# postgres_db's fields, in the order of PG_VARIABLES.
PG_FIELDS = ("hostname", "port", "username", "password", "db_name")
STARTUP_SECONDS = 180.0


class ProdError(RuntimeError):
    """`make prod` could not start; the message says why in one line."""


@dataclass(frozen=True)
class ProdOptions:
    """Where `make prod` keeps its state and which ports it uses, read when it starts."""

    home: Path
    ui_port: int = 3000
    code_server_port: int = 4266
    pg_port: int = 5433
    sqs_port: int = DEMO_SQS_PORT

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProdOptions:
        def number(name: str, default: int) -> int:
            raw = env.get(name) or str(default)
            if not raw.isdigit():
                raise ProdError(f"{name}={raw!r} is not a whole number")
            return int(raw)

        return cls(
            home=Path(env.get("NELO_PROD_HOME") or REPO / ".prod").resolve(),
            ui_port=number("NELO_UI_PORT", cls.ui_port),
            code_server_port=number("NELO_CODE_SERVER_PORT", cls.code_server_port),
            pg_port=number("NELO_PROD_PG_PORT", cls.pg_port),
            sqs_port=number("NELO_DEMO_SQS_PORT", cls.sqs_port),
        )


def _how_to_read(lake: Lake) -> str:
    if isinstance(lake.root, Path):
        return "open read-only"
    # Its views read s3:// files: plain DuckDB has no S3 filesystem offline (docs/deploy.md).
    return "open with nelo_assets.serving.reader.connect_analytics and the same AWS_* variables"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def write_instance_yaml(dagster_home: Path, local_cluster: LocalCluster | None = None) -> Path:
    """deploy/dagster.yaml with local compute logs (no S3 bucket on one machine).

    With the local cluster, its address is written in (trust authentication, no password), so
    `DAGSTER_HOME=... dagster instance info` works with no variables; a real server's
    credentials stay in the environment (R8).
    """
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    if local_cluster is not None:
        postgres_db = config["storage"]["postgres"]["postgres_db"]
        values = dict(zip(PG_FIELDS, local_cluster.environment(PG_DATABASE).values(), strict=True))
        postgres_db.update({k: v for k, v in values.items() if k != "password"})
        postgres_db["port"] = int(postgres_db["port"])
        postgres_db.pop("password")
    config["compute_logs"] = {
        "module": "dagster.core.storage.local_compute_log_manager",
        "class": "LocalComputeLogManager",
        "config": {"base_dir": str(dagster_home / "compute_logs")},
    }
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    header = "# Written by `make prod` from deploy/dagster.yaml (compute logs kept locally).\n"
    target.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return target


def _dagster(*args: str) -> list[str]:
    return [sys.executable, "-m", "dagster", *args]


def run() -> int:
    try:
        options = ProdOptions.from_env(os.environ)
    except ProdError as exc:
        print(f"make prod: {exc}", file=sys.stderr)
        return 1
    settings = Settings.from_env()
    dagster_home = options.home / "dagster_home"
    log_dir = options.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(dagster_home),
        NELO_DATA_DIR=str(settings.data_dir),
        NELO_CODE_SERVER_HOST="127.0.0.1",
        NELO_CODE_SERVER_PORT=str(options.code_server_port),
    )
    services: list[subprocess.Popen] = []  # stopped first
    cluster: LocalCluster | None = None
    database: subprocess.Popen | None = None

    def shutdown(*_: object) -> None:
        raise KeyboardInterrupt

    # Explicit handlers: a shell that starts us in the background makes us ignore SIGINT.
    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        lake = Lake.from_settings(settings)  # on S3: fails here if the bucket cannot be reached
        print(f"Lake: {lake.root}")
        if env.get(PG_HOST):
            print(f"PostgreSQL: {env[PG_HOST]} (from DAGSTER_PG_*)")
        else:
            cluster = LocalCluster(options.home / "postgres", options.pg_port)
            database = cluster.start(log_path=log_dir / "postgres.log")
            cluster.create_database(PG_DATABASE)
            env.update(cluster.environment(PG_DATABASE))
            print(f"PostgreSQL: local cluster {cluster.directory}, port {options.pg_port}")
        write_instance_yaml(dagster_home, cluster)
        # Creates the schema on a new database, upgrades it after a Dagster upgrade.
        migrate = subprocess.run(
            _dagster("instance", "migrate"), env=env, capture_output=True, text=True
        )
        if migrate.returncode != 0:
            raise ProdError(f"dagster instance migrate failed: {migrate.stderr.strip()[-300:]}")

        if not env.get("NELO_SQS_QUEUE_URL"):
            start_local_queue(env, services, log_dir, options.sqs_port)
        print(f"SQS queue: {env['NELO_SQS_QUEUE_URL']}")
        publish_views(lake)

        services.append(
            processes.start(
                _dagster(
                    "code-server",
                    "start",
                    "-m",
                    "nelo_assets.definitions",
                    "--location-name",
                    "nelo_assets",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(options.code_server_port),
                ),
                env=env,
                log_path=log_dir / "code-server.log",
            )
        )
        processes.wait_until(
            lambda: _port_open(options.code_server_port),
            STARTUP_SECONDS,
            "the code server",
            services,
        )
        workspace = str(DEPLOY / "workspace.yaml")
        services.append(
            processes.start(
                [
                    str(BIN / "dagster-webserver"),
                    "-w",
                    workspace,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(options.ui_port),
                ],
                env=env,
                log_path=log_dir / "webserver.log",
            )
        )
        services.append(
            processes.start(
                [str(BIN / "dagster-daemon"), "run", "-w", workspace],
                env=env,
                log_path=log_dir / "daemon.log",
            )
        )
        ui = f"http://127.0.0.1:{options.ui_port}"
        processes.wait_until(
            lambda: processes.http_ok(f"{ui}/server_info"),
            STARTUP_SECONDS,
            "the webserver",
            services,
        )
        print(
            f"\nDagster UI:       {ui}\n"
            f"Instance:         DAGSTER_HOME={dagster_home} (PostgreSQL)\n"
            f"Query surface:    {lake.duckdb_path} ({_how_to_read(lake)})\n"
            f"Logs:             {log_dir}\n"
            "The sqs sensor ingests from the queue and automation builds silver, gold and marts.\n"
            "Press Ctrl-C to stop everything.",
            flush=True,
        )
        processes.supervise(services + ([database] if database else []), log_dir)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except (ProdError, PostgresError, processes.LaunchError, LakeLocationError) as exc:
        print(f"make prod: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        processes.stop(services)
        if cluster and database:
            cluster.stop(database)  # last: the services above were its clients


def start_local_queue(
    env: dict[str, str], services: list[subprocess.Popen], log_dir: Path, sqs_port: int
) -> None:
    """The demo's local SQS server and queue, with live simulated traffic flowing into it."""
    from nelo_assets.ingestion.sqs import ensure_queue, sqs_client

    # The local server accepts any credentials; these are placeholders, not secrets (R8).
    env.setdefault("AWS_ACCESS_KEY_ID", "demo")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["AWS_ENDPOINT_URL_SQS"] = f"http://127.0.0.1:{sqs_port}"
    services.append(
        processes.start(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(sqs_port)],
            env=env,
            log_path=log_dir / "sqs-server.log",
        )
    )
    processes.wait_until(
        lambda: processes.http_ok(f"{env['AWS_ENDPOINT_URL_SQS']}/moto-api/"), 30, "moto", services
    )
    client = sqs_client(
        endpoint_url=env["AWS_ENDPOINT_URL_SQS"],
        region_name=env["AWS_DEFAULT_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    queue_url = ensure_queue(client, DEMO_QUEUE_NAME, dead_letter_name=f"{DEMO_QUEUE_NAME}-dlq")
    env["NELO_SQS_QUEUE_URL"] = queue_url
    services.append(start_live_traffic(queue_url, env, log_dir / "simulator.log"))


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
