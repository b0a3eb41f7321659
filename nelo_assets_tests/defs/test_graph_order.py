"""The graph order is written once, as the one-process pipeline's steps (PARTITION_BUILDS): the
asset deps must agree with it, and the daily pipeline job selects exactly its assets."""

from __future__ import annotations

from dagster import AssetSpec

from nelo_assets.definitions import defs
from nelo_assets.defs.jobs import DAILY_PIPELINE_ASSETS, daily_pipeline
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.transform.pipeline import PARTITION_BUILDS

SPECS: dict[str, AssetSpec] = {
    spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()
}


def test_the_pipeline_holds_every_daily_asset_once() -> None:
    daily = [name for name, spec in SPECS.items() if spec.partitions_def == daily_partitions]
    assert sorted(DAILY_PIPELINE_ASSETS) == sorted(daily)


def test_each_step_reads_only_bronze_and_the_steps_before_it() -> None:
    built = {"bronze_events"}
    for step in PARTITION_BUILDS:
        for asset in step.assets:
            upstream = {dep.asset_key.to_user_string() for dep in SPECS[asset].deps}
            assert upstream <= built, f"{asset} reads {sorted(upstream - built)}, built later"
        built |= set(step.assets)


def test_the_daily_pipeline_job_selects_the_list() -> None:
    selected = daily_pipeline.selection.resolve(defs.resolve_asset_graph())
    assert {key.to_user_string() for key in selected} == set(DAILY_PIPELINE_ASSETS)
