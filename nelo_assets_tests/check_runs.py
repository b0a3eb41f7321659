"""Every check the code location loads, and check-only runs on stand-ins for the assets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from dagster import (
    AssetCheckEvaluation,
    AssetChecksDefinition,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    define_asset_job,
)

from nelo_assets.defs.bronze import checks as bronze_checks
from nelo_assets.defs.checking import Check
from nelo_assets.defs.gold import checks as gold_checks
from nelo_assets.defs.jobs import DAILY_PIPELINE_ASSETS
from nelo_assets.defs.marts import checks as marts_checks
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.silver import checks as silver_checks
from nelo_assets_tests.clean_day import CHECK_DAY, World

CHECK_MODULES = (bronze_checks, silver_checks, gold_checks, marts_checks)
# Every check definition and every declaration, as the modules hold them (test_checks shows
# these are exactly the checks the code location loads).
ALL_CHECKS: list[AssetChecksDefinition] = [
    value
    for module in CHECK_MODULES
    for value in vars(module).values()
    if isinstance(value, AssetChecksDefinition)
]
DECLARED_CHECKS: dict[str, Check] = {
    value.name: value
    for module in CHECK_MODULES
    for value in vars(module).values()
    if isinstance(value, Check)
}
# Checks run on stand-ins for the assets: a check-only job never executes an asset.
CHECK_STANDINS = [
    AssetSpec(key, partitions_def=daily_partitions) for key in DAILY_PIPELINE_ASSETS
] + [
    AssetSpec(key)
    for key in ("quarantine", "dim_items", "dim_users", "master_list_items_engagement")
]


def run_checks(
    world: World,
    selected: Sequence[AssetChecksDefinition],
    instance: DagsterInstance | None = None,
    partition: date | None = CHECK_DAY,
) -> dict[str, AssetCheckEvaluation]:
    """Execute the selected checks for `partition` in a real run; evaluations by check name."""
    job = define_asset_job("checks_only", selection=AssetSelection.checks(*selected))
    defs = Definitions(
        assets=CHECK_STANDINS,
        asset_checks=ALL_CHECKS,
        jobs=[job],
        resources={"lake": world.resource, "checks": world.checks},
    )
    # A check-only selection has no asset to validate a partition key against: tag the run.
    result = defs.resolve_job_def("checks_only").execute_in_process(
        instance=instance or DagsterInstance.ephemeral(),
        tags={"dagster/partition": partition.isoformat()} if partition else None,
        raise_on_error=False,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}
