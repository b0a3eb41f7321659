"""`python -m bench.freshness [--quick] [--out DIR]`: the bench's results as JSON on stdout."""

from __future__ import annotations

import argparse
import json
import sys
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
    results = run(args.quick, args.out)
    print(json.dumps(results, indent=2))
    rounds = ", ".join(str(r["live_p95_s"]) for r in results["rounds"])
    print(
        f"freshness_p95_s {results['freshness_p95_s']} (median of the rounds' p95: {rounds}); "
        f"idle_cost_vs_baseline {results.get('idle_cost_vs_baseline')}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
