"""Freshness: how long an event takes from the queue to the marts through the real daemon with
the shipped defaults, where that time goes, and what the idle system costs.

A moto SQS server, a fresh NELO_DATA_DIR and DAGSTER_HOME, `dagster dev -w workspace.yaml` as
`make dev` runs it, steady simulated traffic, and probe events (`view_item_list`, a unique list
name and item id each) timed from their send to their first appearance in `mart_item_list_daily`
and `mart_product_daily`, read through analytics.duckdb as a reader sees it. The breakdown comes
from the Dagster instance afterwards; the idle cost from psutil over `dagster dev`'s tree.
Usage: python -m bench.freshness [--quick] [--out DIR]

The modules, in the order a run uses them: `plan` (what is measured), `stack` (the system under
test, started and stopped), `instance` (reading Dagster's records), `idle` (the idle cost),
`probes` (sending and finding them), `breakdown` (where a probe's time went), `stats` (percentiles,
timelines) and `report` (results.json and bench/report.md's section); `benchmark` runs them.
"""

from bench.freshness.benchmark import run
from bench.freshness.breakdown import trace
from bench.freshness.plan import COMPONENTS
from bench.freshness.probes import Probe
from bench.freshness.report import report_lines
from bench.freshness.stats import percentile, summarize, timeline

__all__ = [
    "COMPONENTS",
    "Probe",
    "percentile",
    "report_lines",
    "run",
    "summarize",
    "timeline",
    "trace",
]
