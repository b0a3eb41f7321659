"""The default executor of every job."""

from dagster import Definitions, definitions, in_process_executor


@definitions
def executor() -> Definitions:
    # A run is one partition's few steps: one process per run, not one per step, is what two
    # cores can afford; parallelism comes from concurrent runs.
    return Definitions(executor=in_process_executor)
