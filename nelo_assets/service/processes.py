"""Start child processes that can be stopped for sure: own session, signal, deadline, SIGKILL.

`dagster dev` started from a non-interactive shell ignores SIGINT/SIGTERM for a long time, and
its run workers are grandchildren, so stopping means: signal every process of the tree, wait
with a deadline, then SIGKILL whatever is left (psutil finds the whole tree).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import psutil

STOP_DEADLINE_SECONDS = 15.0


class LaunchError(RuntimeError):
    """A started process did not come up, or exited; the message says why in one line."""


def http_ok(url: str) -> bool:
    """The URL answers (any status below 400)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until(
    ready: Callable[[], bool],
    seconds: float,
    what: str,
    watched: Sequence[subprocess.Popen] = (),
) -> None:
    """Poll `ready` until it holds; fail early if a watched process exits meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        dead = [child.args for child in watched if child.poll() is not None]
        if dead:
            raise LaunchError(f"{dead[0][0]} exited while waiting for {what}")
        time.sleep(0.5)
    raise LaunchError(f"{what} was not ready within {seconds:.0f} s")


def supervise(children: Sequence[subprocess.Popen], log_dir: Path) -> None:
    """Block while every child runs; a child that exits is an error the launcher reports."""
    while all(child.poll() is None for child in children):
        time.sleep(1)
    dead = [child.args for child in children if child.poll() is not None]
    raise LaunchError(f"a process exited unexpectedly: {dead[0]} (see {log_dir})")


def start(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start `argv` in its own session (so signals to our terminal don't race ours)."""
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        list(argv),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def listening_on(port: int, module: str) -> psutil.Process | None:
    """The process that listens on local TCP `port`, if it runs `python -m module`."""
    for connection in psutil.net_connections(kind="tcp"):
        if connection.laddr.port != port or connection.status != psutil.CONN_LISTEN:
            continue
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied, TypeError):
            process = psutil.Process(connection.pid)
            if module in process.cmdline():
                return process
    return None


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(tree: Sequence[psutil.Process], kill: bool) -> None:
    for p in tree:
        with suppress(psutil.NoSuchProcess):
            p.kill() if kill else p.terminate()


def stop(
    children: Sequence[subprocess.Popen | psutil.Process],
    deadline: float = STOP_DEADLINE_SECONDS,
) -> None:
    """SIGTERM every process of every tree, wait up to `deadline`, then SIGKILL the rest.

    The tree is read again after each round, because a daemon may spawn a run worker while
    the others are shutting down. A child may be one this launcher started or one it took over
    from an earlier launcher (a psutil.Process: its own session leader all the same).
    """
    for kill in (False, True, True):
        tree = [p for child in children for p in process_tree(child.pid)]
        if not tree:
            break
        _signal_all(tree, kill)
        psutil.wait_procs(tree, timeout=deadline if not kill else 5)
    for child in children:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired, psutil.TimeoutExpired, psutil.NoSuchProcess):
            child.wait(timeout=5)
