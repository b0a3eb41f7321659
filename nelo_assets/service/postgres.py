"""A local PostgreSQL cluster for `make prod` and the tests, and the DAGSTER_PG_* variables the
production instance (deploy/dagster.yaml) reads its connection from.

PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user
(`runuser`), in a folder that user owns; as anyone else it runs as the caller.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from nelo_assets.service import processes

# The variables deploy/dagster.yaml reads; never written to a file (R8).
PG_HOST = "DAGSTER_PG_HOST"
PG_VARIABLES = (
    PG_HOST,
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USERNAME",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)
SUPERUSER = "postgres"
READY_SECONDS = 60.0


class PostgresError(RuntimeError):
    """The local cluster could not be set up; the message says why in one line."""


def bin_dir() -> Path | None:
    """Where initdb and postgres are: Debian keeps them off PATH, in a versioned folder."""
    on_path = shutil.which("initdb")
    if on_path and (Path(on_path).resolve().parent / "postgres").exists():
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version_key)
    return Path(found[-1]).parent if found else None


def _version_key(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SUPERUSER, "--", *argv] if os.geteuid() == 0 else argv


@dataclass(frozen=True)
class LocalCluster:
    """A cluster in `directory`, listening on 127.0.0.1:`port`, trust authentication."""

    directory: Path
    port: int
    fsync: bool = True  # off only for throwaway test clusters

    def _binary(self, name: str) -> str:
        folder = bin_dir()
        if folder is None:
            raise PostgresError(
                "PostgreSQL is not installed (Debian: apt-get install postgresql), "
                f"or point {PG_HOST} and the other DAGSTER_PG_* variables at a server"
            )
        return str(folder / name)

    def init(self) -> None:
        """initdb once; a folder that already holds a cluster is reused (resume)."""
        if (self.directory / "PG_VERSION").exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, SUPERUSER, SUPERUSER)
        self.directory.chmod(0o700)
        done = subprocess.run(
            _as_owner(
                [
                    self._binary("initdb"),
                    "-D",
                    str(self.directory),
                    "--auth=trust",
                    f"--username={SUPERUSER}",
                    "--encoding=UTF8",
                    "--no-sync",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()
            raise PostgresError(f"initdb {self.directory} failed: {last[-1] if last else '?'}")

    def server_argv(self) -> list[str]:
        """The server in the foreground, so a process group can hold and stop it."""
        return _as_owner(
            [
                self._binary("postgres"),
                "-D",
                str(self.directory),
                "-p",
                str(self.port),
                "-k",
                str(self.directory),  # its socket stays in its own folder
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"fsync={'on' if self.fsync else 'off'}",
            ]
        )

    def connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname=database, connect_timeout=5
        )

    def wait_ready(self, server: subprocess.Popen, seconds: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise PostgresError(f"postgres exited with code {server.returncode} at start")
            try:
                self.connect().close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.2)
        raise PostgresError(f"postgres did not accept connections on port {self.port}")

    def create_database(self, name: str) -> None:
        """Create `name` unless it exists (idempotent)."""
        connection = self.connect()
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("select 1 from pg_database where datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'create database "{name}"')  # name comes from code, not data
        finally:
            connection.close()

    def environment(self, database: str) -> dict[str, str]:
        """The DAGSTER_PG_* variables for `database` on this cluster."""
        return dict(
            zip(PG_VARIABLES, ("127.0.0.1", str(self.port), SUPERUSER, "", database), strict=True)
        )

    def start(self, *, log_path: Path | None = None) -> subprocess.Popen:
        """init, start and wait for the server; the caller stops it with `stop`."""
        self.init()
        server = processes.start(self.server_argv(), log_path=log_path)
        try:
            self.wait_ready(server)
        except PostgresError:
            processes.stop([server])
            raise
        return server

    def stop(self, server: subprocess.Popen) -> None:
        """A fast shutdown (clients cut, no recovery needed next start), then make sure."""
        if server.poll() is None:
            subprocess.run(
                _as_owner(
                    [self._binary("pg_ctl"), "-D", str(self.directory), "-m", "fast", "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
            )
        processes.stop([server])


def connection_count(connection: psycopg2.extensions.connection, database: str) -> int:
    """Client connections to `database` now (pg_stat_activity), this one included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from pg_stat_activity where datname = %s and backend_type = 'client backend'",
            (database,),
        )
        return int(cursor.fetchone()[0])
