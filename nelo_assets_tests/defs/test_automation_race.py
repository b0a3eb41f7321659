"""A parent updated while its child's run is building is never lost: the child is built again
(the tick race of `since_last_handled`, docs/decisions.md §4). Real runs on an ephemeral
instance; the parent update lands from inside the child's run, where the race happens."""

from typing import Any

import dagster as dg

from nelo_assets.defs.automation import follow_upstream

DAY = "2026-03-10"
DAY_BEFORE = "2026-03-09"
days = dg.DailyPartitionsDefinition(start_date="2026-03-01", end_offset=1)
ticks: dict[str, Any] = {}


@dg.asset(partitions_def=days)
def parent() -> None: ...


@dg.asset(deps=[parent], partitions_def=days, automation_condition=follow_upstream())
def child(context: dg.AssetExecutionContext) -> None:
    """Past reading its parent when a new version of the parent lands; a tick sees it then."""
    if ticks.get("race"):
        context.instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key="parent", partition=context.partition_key)
        )
        during = dg.evaluate_automation_conditions(
            defs=defs, instance=context.instance, cursor=ticks["cursor"]
        )
        ticks["during"] = during
        ticks["cursor"] = during.cursor


@dg.asset(deps=[child], partitions_def=days, automation_condition=follow_upstream())
def grandchild() -> None: ...


# Reads its own day and the day before, as fact_events reads silver for sessions.
@dg.asset(
    deps=[dg.AssetDep(child, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1))],
    partitions_def=days,
    automation_condition=follow_upstream(),
)
def lookback() -> None: ...


# A check that follows upstream too, as bronze_events_schema does: its evaluation is an update.
@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "child_ok", asset="child", partitions_def=days, automation_condition=follow_upstream()
        )
    ]
)
def child_ok() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key="child", check_name="child_ok", passed=True)


defs = dg.Definitions(assets=[parent, child, grandchild, lookback], asset_checks=[child_ok])


def _tick(instance: dg.DagsterInstance) -> dg.EvaluateAutomationConditionsResult:
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=ticks["cursor"])
    ticks["cursor"] = result.cursor
    return result


def _build(instance: dg.DagsterInstance, *assets: dg.AssetsDefinition, day: str = DAY) -> None:
    """One run of `assets` for `day`, with the asset selection (and so the checks) an
    automation run records: Dagster reads it to ignore updates a run made to its own inputs."""
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, partition_key=day, asset_selection=[a.key for a in assets]
    )
    assert result.success


def _requested(
    result: dg.EvaluateAutomationConditionsResult, asset: str = "child"
) -> set[str | None]:
    return set(result.get_requested_partitions(dg.AssetKey(asset)))


def _fresh_instance() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    ticks.clear()
    ticks["cursor"] = None
    _tick(instance)
    return instance


def test_parent_updated_during_child_run_builds_child_again() -> None:
    instance = _fresh_instance()
    _build(instance, parent)
    assert _requested(_tick(instance)) == {DAY}

    ticks["race"] = True
    _build(instance, child)
    ticks["race"] = False
    assert _requested(ticks["during"]) == set(), "the child is in progress: not yet"
    assert _requested(_tick(instance)) == {DAY}, "the child read the old parent: build it again"

    _build(instance, child)
    assert _requested(_tick(instance)) == set(), "built after the parent's last update: done"


def test_parent_updated_after_the_child_built_on_the_tick_after_its_request() -> None:
    """Seen in make bench: a late event's bronze landed after the run requested on the last
    tick had built silver; on the next tick that request still counted as handling every
    update, and the day's marts never got the event."""
    instance = _fresh_instance()
    _build(instance, parent)
    assert _requested(_tick(instance)) == {DAY}
    _build(instance, child)
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="parent", partition=DAY))

    assert _requested(_tick(instance)) == {DAY}, "the parent changed after the child's run"
    _build(instance, child)
    assert _requested(_tick(instance)) == set()


def test_child_built_after_its_parent_is_not_built_again() -> None:
    instance = _fresh_instance()
    _build(instance, parent)
    assert _requested(_tick(instance)) == {DAY}
    _build(instance, child)
    assert _requested(_tick(instance)) == set()
    assert _requested(_tick(instance)) == set()


def test_parent_and_child_in_one_run_are_not_built_again() -> None:
    """A backfill run builds a day's parent, then its child: the child read the new parent."""
    instance = _fresh_instance()
    _build(instance, parent, child)
    assert _requested(_tick(instance)) == set()


def test_a_partition_a_running_run_reads_waits_for_that_run() -> None:
    """Dagster counts the child as done once its run has built it, while the run's later steps
    (the grandchild here, the facts and their checks in the pipeline) still read it."""
    instance = _fresh_instance()
    _build(instance, parent, child)
    _tick(instance)
    reader = instance.create_run_for_job(
        job_def=defs.resolve_implicit_global_asset_job_def(),
        asset_selection=frozenset({dg.AssetKey("grandchild")}),
        tags={"dagster/partition": DAY},
        status=dg.DagsterRunStatus.STARTED,
    )
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="parent", partition=DAY))
    assert _requested(_tick(instance)) == set(), "the grandchild's run still reads the child"
    instance.report_run_failed(reader)
    assert _requested(_tick(instance)) == {DAY}, "that run has ended: rebuild the child"


def test_a_child_built_since_the_last_tick_follows_its_parent_requested_on_this_one() -> None:
    """Seen in make bench: a run built a day's silver and facts; before the next tick an ingest
    run announced more bronze. That tick requested silver, and the facts' build since the last
    tick counted as handling silver's coming rebuild: the day's run rebuilt silver without
    fact_events, and the blocking check on fact_event_items failed it."""
    instance = _fresh_instance()
    _build(instance, parent)
    assert _requested(_tick(instance)) == {DAY}
    _build(instance, child, grandchild)
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="parent", partition=DAY))

    result = _tick(instance)
    assert _requested(result) == {DAY}
    assert _requested(result, "grandchild") == {DAY}, (
        "the child is rebuilt this tick: its child follows in the same run"
    )
    _build(instance, child, grandchild)
    result = _tick(instance)
    assert _requested(result) == set()
    assert _requested(result, "grandchild") == set()


def test_a_lookback_child_built_since_the_last_tick_follows_its_older_parent_day() -> None:
    """A late event for D-1 requests its child on the tick after D's lookback was built. The
    D-1 run also builds the lookback asset (for D-1), so Dagster ignores the update it makes
    for D: the request on this tick is D's only trigger, and losing it loses the event."""
    instance = _fresh_instance()
    for day in (DAY_BEFORE, DAY):
        _build(instance, parent, day=day)
    assert _requested(_tick(instance)) == {DAY_BEFORE, DAY}
    for day in (DAY_BEFORE, DAY):
        _build(instance, child, grandchild, lookback, day=day)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="parent", partition=DAY_BEFORE)
    )

    assert _requested(_tick(instance)) == {DAY_BEFORE}
    _build(instance, child, grandchild, lookback, day=DAY_BEFORE)
    assert _requested(_tick(instance), "lookback") == {DAY}, "D read the old D-1"
    _build(instance, lookback, day=DAY)
    assert _requested(_tick(instance), "lookback") == set()
