"""Live simulated app traffic into a queue, for the launchers that start a local SQS server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from nelo_assets.service import processes

# A few events a second: enough to watch the marts move, light on two cores.
LIVE_EVENTS_PER_SECOND = 3


def start_live_traffic(queue_url: str, env: Mapping[str, str], log_path: Path) -> subprocess.Popen:
    """`nelo-simulate sqs` sending LIVE_EVENTS_PER_SECOND events a second to queue_url."""
    return processes.start(
        [
            sys.executable,
            "-m",
            "nelo_assets.simulation.cli",
            "sqs",
            "--rate",
            str(LIVE_EVENTS_PER_SECOND),
            "--queue-url",
            queue_url,
        ],
        env=env,
        log_path=log_path,
    )
