"""Run retention deletes old runs that left no asset history and keeps the ones that did."""

from __future__ import annotations

import dagster as dg

from nelo_assets.instance.purge_runs import purge_runs


@dg.op
def nothing() -> None:
    """An empty ingest run: no asset history."""


@dg.job
def empty_job() -> None:
    nothing()


@dg.asset
def table() -> None:
    """Materializes: its run is the asset's history."""


def test_purge_deletes_runs_without_asset_history_only() -> None:
    with dg.instance_for_test() as instance:
        empty = empty_job.execute_in_process(instance=instance).run_id
        kept = dg.materialize([table], instance=instance).run_id

        assert purge_runs(instance, 0, dry_run=True) == (1, 1)
        assert instance.get_run_by_id(empty) is not None  # a dry run deletes nothing

        assert purge_runs(instance, 0) == (1, 1)
        assert instance.get_run_by_id(empty) is None
        assert instance.get_run_by_id(kept) is not None
        assert instance.get_latest_materialization_event(dg.AssetKey("table")) is not None
        # Runs younger than the limit are not touched.
        assert purge_runs(instance, 1) == (0, 0)
