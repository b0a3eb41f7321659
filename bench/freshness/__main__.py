"""`python -m bench.freshness [--quick] [--out DIR]`: the bench's results as JSON on stdout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import bench.freshness
from bench.freshness.benchmark import run
from bench.freshness.plan import REPO


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.freshness", description=bench.freshness.__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a harness check in about 40 s")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="work directory")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.out), indent=2))


if __name__ == "__main__":
    main()
