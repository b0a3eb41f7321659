"""The compose stack for real (`make test-containers`, after `make image`): `make compose`'s
launcher brings up the shipped compose file plus its local profile against a local SQS server;
simulated messages go in, the sensor ingests and automation builds the marts, each run in its
own container. One transform run's container is killed mid-run and the daemon's container is
SIGKILLed from the host; the tables must end equal to a fault-free build in one process. Ctrl-C
must leave no container of the stack behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter

from nelo_assets.defs.jobs import INGEST_JOB_NAME
from nelo_assets.environment import INSTANCE_VARIABLES
from nelo_assets.ingestion.bronze import unannounced
from nelo_assets.instance.container_run_launcher import STACK_LABEL
from nelo_assets.service import compose, processes
from nelo_assets.settings import Settings
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.tables import TABLES
from nelo_assets.transform.pipeline import PARTITION_BUILDS, build_everything
from nelo_assets_tests.defs.test_crash_recovery import (
    IN_PROGRESS,
    latest,
    retry_due,
    runs,
    table_rows,
    wait_for,
)
from nelo_assets_tests.environment import free_port
from nelo_assets_tests.queue_lake import QueueLake
from nelo_assets_tests.traffic import traffic

pytestmark = pytest.mark.containers

SENSOR_SECONDS = 5
SHAPES = 60
RUN_CONTAINER_ID = "docker/container_id"
IMAGE_USER = "10001"
STACK_SERVICE = "com.docker.compose.service"
NEXT_IMAGE = "nelo-pipeline-next"
PORT_VARIABLES = ("NELO_UI_PORT", "NELO_CODE_SERVER_PORT", "NELO_COMPOSE_PG_PORT")
LOOPBACK = {"127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def stack_containers() -> list[str]:
    """Every container of the stack: compose's own and the run containers it started."""
    ids = docker("ps", "-aq", "--filter", f"label={STACK_LABEL}").split()
    ids += docker("ps", "-aq", "--filter", "label=com.docker.compose.project=nelo").split()
    return sorted(set(ids))


def service_container(name: str) -> str:
    project = "label=com.docker.compose.project=nelo"
    return docker("ps", "-q", "--filter", project, "--filter", f"label={STACK_SERVICE}={name}")


def stack_listeners() -> list[str]:
    """The local addresses every process of the stack's containers listens on (`ss -ltnp`)."""
    pids: set[str] = set()
    for container in stack_containers():
        top = docker("top", container, "-eo", "pid").split()[1:]
        pids.update(top)
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True)
    return [
        line.split()[3]
        for line in listening.stdout.splitlines()
        if set(re.findall(r"pid=(\d+)", line)) & pids
    ]


def listeners_once_on(ports: set[str]) -> list[str]:
    """The stack's listening addresses once every port of `ports` is among them, else []."""
    found = stack_listeners()
    return found if ports <= {address.rsplit(":", 1)[1] for address in found} else []


def settled(instance: DagsterInstance, queue_lake: QueueLake, lake: Lake) -> bool:
    """The queue is drained, no run is in progress or about to be retried, no run was requested
    for 30 s, the dimensions (the last to follow) are at least as new as the facts, and every
    day's tables are newer than its bronze."""
    if queue_lake.counts() != (0, 0) or unannounced(lake):
        return False
    if runs(instance, statuses=IN_PROGRESS) or retry_due(instance):
        return False
    records = instance.get_run_records(limit=1)
    if not records or time.time() - records[0].create_timestamp.timestamp() < 30:
        return False
    facts = [latest(instance, "fact_events"), latest(instance, "fact_event_items")]
    if not max(facts) > 0 or any(
        latest(instance, dim) < max(facts) for dim in ("dim_users", "dim_items")
    ):
        return False
    # Every day's tables were rebuilt after its bronze last changed: an automation tick that is
    # slow to come round after a restart must not pass for a quiet pipeline.
    return all(
        built_at(instance, asset, day) >= built_at(instance, "bronze_events", day)
        for day in instance.get_materialized_partitions(AssetKey("bronze_events"))
        for step in PARTITION_BUILDS
        for asset in step.assets
    )


def built_at(instance: DagsterInstance, asset: str, partition: str) -> float:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].timestamp if records else 0.0


@pytest.fixture
def stack_env(queue_lake: QueueLake) -> Iterator[dict[str, str]]:
    data = queue_lake.settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    # The lake's folder belongs to someone else than the test (root): the image's user.
    for path in (data, *data.rglob("*")):
        os.chown(path, int(IMAGE_USER), int(IMAGE_USER))
    # The test removes the stack's volumes at the end: never those of a stack in use here.
    assert not stack_containers(), "a nelo compose stack runs on this host"
    assert "nelo-" not in docker("volume", "ls", "-q"), "nelo volumes exist on this host"
    env = {
        **os.environ,
        "DAGSTER_PG_PASSWORD": uuid4().hex,
        # This checkout's image, fixed for the whole test.
        "NELO_IMAGE": compose.commit_image(),
        "NELO_SQS_QUEUE_URL": queue_lake.queue_url,
        "NELO_DATA_DIR": str(data),
        "NELO_TIMEZONE": queue_lake.settings.timezone,
        "NELO_START_DATE": (datetime.now(UTC).date() - timedelta(days=30)).isoformat(),
        "NELO_SENSOR_INTERVAL_SECONDS": str(SENSOR_SECONDS),
        "NELO_AUTOMATION_INTERVAL_SECONDS": str(SENSOR_SECONDS),
        "NELO_UI_PORT": str(free_port()),
        "NELO_CODE_SERVER_PORT": str(free_port()),
        "NELO_COMPOSE_PG_PORT": str(free_port()),
    }
    try:
        yield env
    finally:
        # Whatever the test left behind, even when it failed half-way.
        subprocess.run(compose.compose_command("down", "-v"), env=env, capture_output=True)
        if stack_containers():
            docker("rm", "-f", *stack_containers())


def read_instance(stack_env: dict[str, str], home: Path) -> DagsterInstance:
    """The stack's instance database, read from the host (the local profile's 127.0.0.1)."""
    home.mkdir()
    (home / "dagster.yaml").write_text(
        (compose.DEPLOY / "dagster.yaml").read_text().split("\nconcurrency:")[0]
    )
    os.environ.update(
        DAGSTER_HOME=str(home),
        DAGSTER_PG_HOST="127.0.0.1",
        DAGSTER_PG_PORT=stack_env["NELO_COMPOSE_PG_PORT"],
        DAGSTER_PG_USERNAME="dagster",
        DAGSTER_PG_PASSWORD=stack_env["DAGSTER_PG_PASSWORD"],
        DAGSTER_PG_DB="dagster",
    )
    return DagsterInstance.get()


def start_stack(stack_env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`make compose`'s launcher, until its UI answers."""
    stack = processes.start(
        [sys.executable, "-m", "nelo_assets.service.compose"], env=stack_env, log_path=log_path
    )
    ui = f"http://127.0.0.1:{stack_env['NELO_UI_PORT']}/server_info"
    try:
        processes.wait_until(lambda: processes.http_ok(ui), 300, "the stack's UI", [stack])
    except processes.LaunchError:
        stop_stack(stack)
        raise
    return stack


def migrate_command(image: str, instance_env: dict[str, str]) -> list[str]:
    """`dagster instance migrate` in a one-off container of `image`, on the stack's instance."""
    instance_yaml = f"{compose.DEPLOY}/docker/dagster.yaml:/opt/dagster/home/dagster.yaml:ro"
    env = {**instance_env, "NELO_RUN_NETWORK": "host"}
    options = ["--network", "host", "--user", IMAGE_USER, "-v", instance_yaml]
    options += [f"--env={name}={value}" for name, value in env.items()]
    return ["docker", "run", "--rm", *options, image, "dagster", "instance", "migrate"]


def service_image(name: str) -> str:
    return docker("inspect", "-f", "{{.Config.Image}}", service_container(name).strip()).strip()


def stop_stack(stack: subprocess.Popen) -> None:
    """Ctrl-C, as a person would; the host's view of the instance is dropped too."""
    stack.send_signal(signal.SIGINT)
    try:
        stack.wait(timeout=120)
    finally:
        processes.stop([stack])
        for key in ("DAGSTER_HOME", *INSTANCE_VARIABLES):
            os.environ.pop(key, None)


def assert_tables_equal_a_fault_free_build(
    lake: Lake, settings: Settings, sent: list, reference: Lake
) -> None:
    shutil.copytree(lake.landing_dir, reference.landing_dir, ignore=shutil.ignore_patterns("_*"))
    dates = sorted({d for s in sent for d in s.bronze.values()})
    # Automation builds each date's lookback dependents: D+1 (sessions), D+1..D+7 (attribution).
    last = min(dates[-1] + timedelta(days=7), datetime.now(UTC).date())
    span = [dates[0] + timedelta(days=n) for n in range((last - dates[0]).days + 1)]
    build_everything(reference, settings, span)
    compared = [
        name
        for name, table in TABLES.items()
        if table.folder and table.parts_view is None and name != "bronze_events"
    ]
    for name in compared:
        assert table_rows(lake, name) == table_rows(reference, name), name


def in_flight_transform(instance: DagsterInstance) -> object:
    """A transform (not ingest) run started in its container, once there is one."""
    return wait_for(
        lambda: next(
            (
                r
                for r in runs(instance, statuses=[DagsterRunStatus.STARTED])
                if r.job_name != INGEST_JOB_NAME and RUN_CONTAINER_ID in r.tags
            ),
            None,
        ),
        600,
        "a transform run in a container",
        every=0.2,
    )


def test_image_holds_no_secret_and_keeps_debians_trust_store() -> None:
    image = compose.commit_image()
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image))
    assert not re.search(r"PASSWORD|SECRET|TOKEN|ca\.crt|PIP_CERT", history + json.dumps(config))
    assert config["User"] == "nelo"
    in_image = "sha256sum /etc/ssl/certs/ca-certificates.crt; ls /tmp /opt/nelo/deploy"
    listing = docker("run", "--rm", "--entrypoint", "sh", image, "-c", in_image)
    assert "build-ca" not in listing and "local" not in listing.split()
    # The shipped trust store is the base image's (Debian's), never the build machine's bundle.
    base = config["Labels"]["org.opencontainers.image.base.name"]
    debian = docker("run", "--rm", base, "sha256sum", "/etc/ssl/certs/ca-certificates.crt")
    assert listing.split()[0] == debian.split()[0]
    if os.environ.get("PIP_CERT"):
        host = subprocess.run(["sha256sum", os.environ["PIP_CERT"]], capture_output=True, text=True)
        assert host.stdout.split()[0] != debian.split()[0]


def test_missing_password_is_one_line(stack_env: dict[str, str]) -> None:
    env = {k: v for k, v in stack_env.items() if k != "DAGSTER_PG_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "nelo_assets.service.compose"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "make compose: set DAGSTER_PG_PASSWORD (the instance database's password)"
    ]


def test_stack_survives_killed_containers_and_builds_the_same_tables(
    stack_env: dict[str, str], queue_lake: QueueLake, tmp_path: Path
) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    settings = Settings.from_env(stack_env)
    lake = Lake(settings.data_dir)
    today = datetime.now(UTC).date()
    sent = traffic(SHAPES, [today - timedelta(days=d) for d in (1, 2)], datetime.now(UTC))
    queue_lake.send([s.body for s in sent])

    stack = start_stack(stack_env, tmp_path / "compose.log")
    try:
        timings["UI up"] = time.monotonic() - started
        instance = read_instance(stack_env, tmp_path / "dagster_home")
        # UI, code server, PostgreSQL (the code server loads after the UI answers), and nothing
        # of the stack listens off the host's loopback.
        ports = {stack_env[name] for name in PORT_VARIABLES}
        listeners = wait_for(lambda: listeners_once_on(ports), 180, "the stack's ports")
        assert all(a.rsplit(":", 1)[0] in LOOPBACK for a in listeners), listeners
        # The Docker socket needs root (webserver, daemon); everything else runs unprivileged.
        users = {
            name: docker("inspect", "-f", "{{.Config.User}}", service_container(name).strip())
            for name in ("code_server", "webserver_host", "daemon", "postgres")
        }
        assert {k: v.strip() for k, v in users.items()} == {
            "code_server": f"{IMAGE_USER}:{IMAGE_USER}",  # the data folder's owner
            "webserver_host": "root",
            "daemon": "root",
            "postgres": "postgres",
        }

        # A transform run's container is killed mid-run: run monitoring fails it, run retries
        # re-execute it.
        transform = in_flight_transform(instance)
        timings["first transform run"] = time.monotonic() - started
        run_user = docker("inspect", "-f", "{{.Config.User}}", transform.tags[RUN_CONTAINER_ID])
        assert run_user.strip() == f"{IMAGE_USER}:{IMAGE_USER}"
        docker("kill", transform.tags[RUN_CONTAINER_ID])
        wait_for(
            lambda: instance.get_run_by_id(transform.run_id).is_finished,
            300,
            "the killed run to be failed",
        )
        assert instance.get_run_by_id(transform.run_id).status == DagsterRunStatus.FAILURE

        # The daemon dies (SIGKILL from the host, not `docker kill`, which counts as a stop):
        # its restart policy brings it back, and it carries on with new messages.
        daemon = service_container("daemon").strip()
        pid = docker("inspect", "-f", "{{.State.Pid}}", daemon).strip()
        os.kill(int(pid), signal.SIGKILL)
        wait_for(
            lambda: (
                docker("inspect", "-f", "{{.RestartCount}} {{.State.Running}}", daemon).split()
                == ["1", "true"]
            ),
            120,
            "the daemon's container to restart",
        )
        more = traffic(SHAPES // 2, [today - timedelta(days=1)], datetime.now(UTC))
        queue_lake.send([s.body for s in more])
        sent += more

        wait_for(lambda: settled(instance, queue_lake, lake), 900, "the pipeline to settle", 3)
        timings["settled"] = time.monotonic() - started

        # Every run ran in its own container of this commit's image.
        every_run = instance.get_runs(RunsFilter())
        assert every_run
        images = {r.tags.get("dagster/image") for r in every_run}
        assert images == {stack_env["NELO_IMAGE"]}, images
        assert all(r.tags.get(RUN_CONTAINER_ID) for r in every_run)
        assert len({r.tags[RUN_CONTAINER_ID] for r in every_run}) == len(every_run)
        retries = [r for r in every_run if r.tags.get("dagster/parent_run_id") == transform.run_id]
        assert [r.status for r in retries] == [DagsterRunStatus.SUCCESS]
    finally:
        stop_stack(stack)
    timings["stopped"] = time.monotonic() - started
    print(f"timings (s): {json.dumps({k: round(v) for k, v in timings.items()})}")
    assert stack.returncode == 0, (tmp_path / "compose.log").read_text()[-2000:]
    assert stack_containers() == []
    # The instance database's volume stays for the next start; this test removes the volumes.
    subprocess.run(compose.compose_command("down", "-v"), env=stack_env, capture_output=True)
    assert "nelo-" not in docker("volume", "ls", "-q")

    # Every table equals a fault-free build of the same landing archive.
    assert_tables_equal_a_fault_free_build(lake, settings, sent, Lake(tmp_path / "reference"))


def test_upgrade_keeps_the_run_in_flight_cursors_and_backlog(
    stack_env: dict[str, str], queue_lake: QueueLake, tmp_path: Path
) -> None:
    """docs/deploy.md's upgrade steps: a second image built while a run is in flight, the
    instance migrated with it, the services recreated on it."""
    settings = Settings.from_env(stack_env)
    lake = Lake(settings.data_dir)
    today = datetime.now(UTC).date()
    sent = traffic(SHAPES, [today - timedelta(days=1)], datetime.now(UTC))
    queue_lake.send([s.body for s in sent])
    old = stack_env["NELO_IMAGE"]
    new = f"{NEXT_IMAGE}:{old.split(':')[1]}"
    upgraded = {**stack_env, "NELO_IMAGE": new}
    stack = start_stack(stack_env, tmp_path / "compose.log")
    try:
        instance = read_instance(stack_env, tmp_path / "dagster_home")
        in_flight = in_flight_transform(instance)
        subprocess.run(
            ["bash", "deploy/local/build-image"],
            env={**os.environ, "NELO_IMAGE_NAME": NEXT_IMAGE},
            cwd=compose.REPO,
            check=True,
            capture_output=True,
        )
        # The daemon stops first, so nothing new starts during the migration; the run in
        # flight goes on in its own container. Messages that arrive meanwhile wait in the
        # queue: the backlog the new image drains.
        stopped = subprocess.run(
            compose.compose_command("stop", "daemon"), env=stack_env, capture_output=True
        )
        assert stopped.returncode == 0, stopped.stderr[-1000:]
        # An ingest run already in its container would take the backlog: let it end first.
        launched = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
        wait_for(
            lambda: not runs(instance, statuses=launched, job_name=INGEST_JOB_NAME),
            300,
            "the old stack's ingest run to end",
        )
        backlog = traffic(SHAPES // 2, [today - timedelta(days=2)], datetime.now(UTC))
        queue_lake.send([s.body for s in backlog])
        sent += backlog
        sensors = {state.instigator_name: state for state in instance.all_instigator_state()}
        # The new image migrates the instance database (a one-off container: Compose 1.29's
        # `run` refuses host networking), then the services are recreated on it.
        instance_env = {name: os.environ[name] for name in INSTANCE_VARIABLES if name in os.environ}
        migrate = subprocess.run(migrate_command(new, instance_env), capture_output=True, text=True)
        assert migrate.returncode == 0, migrate.stderr[-1000:]
        up = subprocess.run(
            compose.compose_command("up", "-d", "--no-build"),
            env=upgraded,
            capture_output=True,
            text=True,
        )
        assert up.returncode == 0, up.stderr[-1000:]
        upgraded_at = time.time()
        print(
            f"run in flight at the upgrade: {not instance.get_run_by_id(in_flight.run_id).is_finished}"
        )

        wait_for(
            lambda: instance.get_run_by_id(in_flight.run_id).is_finished,
            300,
            "the run in flight to finish",
        )
        finished = instance.get_run_by_id(in_flight.run_id)
        assert finished.status == DagsterRunStatus.SUCCESS
        assert finished.tags["dagster/image"] == old
        assert service_image("daemon") == service_image("code_server") == new
        wait_for(lambda: settled(instance, queue_lake, lake), 900, "the pipeline to settle", 3)

        after = [
            record.dagster_run
            for record in instance.get_run_records()
            if record.create_timestamp.timestamp() > upgraded_at
        ]
        assert after, "no run after the upgrade"
        assert {r.tags.get("dagster/image") for r in after} == {new}
        # The same sensors, still running, their cursors kept (the instance database stayed).
        kept = {state.instigator_name: state for state in instance.all_instigator_state()}
        assert set(kept) == set(sensors)
        for name, state in sensors.items():
            assert kept[name].selector_id == state.selector_id, name
            assert kept[name].status == state.status, name
        automation_cursor = kept["automation"].instigator_data.cursor
        assert automation_cursor, "the automation sensor lost its cursor"
    finally:
        stop_stack(stack)
        subprocess.run(["docker", "rmi", new, f"{NEXT_IMAGE}:latest"], capture_output=True)
    assert stack.returncode == 0, (tmp_path / "compose.log").read_text()[-2000:]
    assert_tables_equal_a_fault_free_build(lake, settings, sent, Lake(tmp_path / "reference"))
