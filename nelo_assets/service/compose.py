"""`make compose`: the compose stack of deploy/ in the foreground, as `make prod` runs processes.

deploy/docker-compose.yaml plus its local profile deploy/docker-compose.local.yaml (host
networking, Debian's PostgreSQL on the local base): PostgreSQL, the code server, the webserver
and the daemon in containers of the image `make image` built for this commit, every run in its
own container. The queue is the one NELO_SQS_QUEUE_URL names (with AWS_ENDPOINT_URL_SQS), else
the demo's local SQS server with live traffic, as in `make prod`. The lake is the host folder
NELO_DATA_DIR, bind-mounted, and on S3 when NELO_LAKE_URL says. Ctrl-C or SIGTERM removes every
container it started, run containers included; the instance database stays in its volume, so
running it again resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from nelo_assets.ingestion.sqs import QueueConfigError, describe_error, queue_counts, sqs_client
from nelo_assets.instance.container_run_launcher import STACK_LABEL
from nelo_assets.service import processes
from nelo_assets.service.prod import STARTUP_SECONDS, ProdError, ProdOptions, start_local_queue
from nelo_assets.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROJECT = "nelo"
COMPOSE_FILES = (DEPLOY / "docker-compose.yaml", DEPLOY / "docker-compose.local.yaml")
IMAGE_NAME = "nelo-pipeline"
LOCAL_POSTGRES = "nelo-postgres:15"
# What the image is built from: a change here makes `make image` tag it <commit>-dirty.
IMAGE_SOURCES = ("pyproject.toml", "constraints.txt", "nelo_assets", "sql", "deploy")
STOP_SECONDS = 20


class ComposeError(RuntimeError):
    """`make compose` could not start; the message says why in one line."""


def compose_command(*args: str) -> list[str]:
    files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
    return ["docker-compose", "-p", PROJECT, *files, *args]


def commit_image() -> str:
    """The image `make image` tagged for the checked-out commit (NELO_IMAGE overrides it)."""
    if os.environ.get("NELO_IMAGE"):
        return os.environ["NELO_IMAGE"]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", *IMAGE_SOURCES],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{IMAGE_NAME}:{commit}{'-dirty' if dirty else ''}"


def check_docker(image: str) -> None:
    """A Docker daemon answers and holds the image."""
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=20)
    except FileNotFoundError as exc:
        raise ComposeError("the docker CLI is not installed: run `make image` first") from exc
    except subprocess.TimeoutExpired as exc:
        raise ComposeError("the Docker daemon does not answer within 20 s") from exc
    if info.returncode != 0:
        raise ComposeError(
            "no Docker daemon answers (DOCKER_HOST or /var/run/docker.sock): run `make image`"
        )
    found = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    if found.returncode != 0:
        raise ComposeError(f"no image {image}: run `make image` for this commit")


def check_queue(env: Mapping[str, str]) -> None:
    """The queue answers within seconds; one line naming it when it does not."""
    queue_url = env["NELO_SQS_QUEUE_URL"]
    try:
        queue_counts(sqs_client(quick=True, queue_url=queue_url), queue_url)
    except QueueConfigError as exc:
        raise ComposeError(f"queue {queue_url}: {exc}") from exc
    except Exception as exc:  # botocore's connection and client errors alike
        raise ComposeError(f"the queue does not answer: {describe_error(exc)}") from exc


def postgres_image() -> str:
    """Debian's PostgreSQL on the local base when `make image` built it, else postgres:15."""
    local = subprocess.run(["docker", "image", "inspect", LOCAL_POSTGRES], capture_output=True)
    return LOCAL_POSTGRES if local.returncode == 0 else "postgres:15"


def owner(path: Path) -> str:
    """`uid:gid` of a folder: the stack's containers write the lake as its owner."""
    stat = path.stat()
    return f"{stat.st_uid}:{stat.st_gid}"


def stack_environment(env: Mapping[str, str], settings: Settings, image: str) -> dict[str, str]:
    """What docker-compose interpolates into the compose files."""
    if not env.get("DAGSTER_PG_PASSWORD"):
        raise ComposeError("set DAGSTER_PG_PASSWORD (the instance database's password)")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return {
        **env,
        "NELO_IMAGE": image,
        "NELO_DATA_DIR": str(settings.data_dir),
        "NELO_RUN_USER": env.get("NELO_RUN_USER") or owner(settings.data_dir),
    }


def follow_logs(env: Mapping[str, str], log_path: Path, tail: str) -> subprocess.Popen:
    """`docker-compose logs -f` of the stack into log_path."""
    return processes.start(
        compose_command("logs", "-f", "--no-color", f"--tail={tail}"), env=env, log_path=log_path
    )


def remove_containers(env: Mapping[str, str]) -> None:
    """The stack's containers and the run containers it started, and its network."""
    # The stack's environment: the compose file requires NELO_SQS_QUEUE_URL, which a local
    # queue started here sets only there, and `down` refuses to run without it.
    subprocess.run(
        compose_command("down", "--timeout", str(STOP_SECONDS)),
        env=env,
        capture_output=True,
        check=False,
    )
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={STACK_LABEL}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if left:
        subprocess.run(["docker", "rm", "-f", *left], capture_output=True, check=False)


def run() -> int:
    try:
        options = ProdOptions.from_env(os.environ)
        settings = Settings.from_env()
    except (ProdError, SettingsError) as exc:
        print(f"make compose: {exc}", file=sys.stderr)
        return 1
    log_dir = REPO / ".compose" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    queue: list[subprocess.Popen] = []  # the local SQS server and traffic, when started here
    watched: list[subprocess.Popen] = []  # docker-compose logs -f
    env: dict[str, str] = dict(os.environ)
    started = False

    def shutdown(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)
    try:
        image = commit_image()
        env = stack_environment(os.environ, settings, image)
        check_docker(image)
        env.setdefault("NELO_POSTGRES_IMAGE", postgres_image())
        if env.get("NELO_SQS_QUEUE_URL"):
            check_queue(env)
        else:
            start_local_queue(env, queue, log_dir, options.sqs_port)
        print(f"Image: {image}\nSQS queue: {env['NELO_SQS_QUEUE_URL']}")
        print(f"Lake: {settings.lake_url or settings.data_dir} (data folder {settings.data_dir})")
        started = True
        up = subprocess.run(
            compose_command("up", "-d", "--no-build"), env=env, capture_output=True, text=True
        )
        if up.returncode != 0:
            raise ComposeError(f"docker-compose up failed: {up.stderr.strip()[-300:]}")
        log_path = log_dir / "stack.log"
        watched.append(follow_logs(env, log_path, tail="all"))
        ui = f"http://127.0.0.1:{options.ui_port}"
        processes.wait_until(
            lambda: processes.http_ok(f"{ui}/server_info"), STARTUP_SECONDS, "the webserver", queue
        )
        print(
            f"\nDagster UI:  {ui}\n"
            f"Containers:  docker ps (run containers carry the label {STACK_LABEL})\n"
            f"Logs:        {log_path}\n"
            "Press Ctrl-C to stop and remove every container (the instance database stays).",
            flush=True,
        )
        while True:
            time.sleep(2)
            # Following stops when a container restarts (its restart policy): follow again.
            if watched[-1].poll() is not None:
                watched.append(follow_logs(env, log_path, tail="0"))
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except (ComposeError, ProdError, processes.LaunchError) as exc:
        print(f"make compose: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if started:
            remove_containers(env)
        processes.stop(watched + queue)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
