"""The automation condition every derived asset uses: follow upstream changes in any partition,
never count a build that read inputs which changed under it as handled, and order the runs of
different days so that none reads a table another run is rewriting (docs/decisions.md §4, §13).
These are Python conditions: the automation sensor evaluates them in the code server."""

from __future__ import annotations

from datetime import datetime, timedelta

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AutomationCondition,
    AutomationContext,
    AutomationResult,
    DagsterInstance,
    EventLogRecord,
    PartitionKeyRange,
    RunsFilter,
)

from nelo_assets.defs.jobs import RUNS_IN_FLIGHT
from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.defs.partitions import daily_partitions

BRONZE_EVENTS = AssetKey("bronze_events")
# How long an unpartitioned table (a dimension, the quarantine, the master view) may fall behind
# its daily parents under steady traffic before their day runs hold a tick to let it run. Each
# hold delays the marts by a tick (20 s): rare enough not to show in their freshness p95. A
# table never built waits less: the dashboard has no product names until dim_items exists.
UNPARTITIONED_MAX_LAG = timedelta(minutes=15)
UNPARTITIONED_FIRST_BUILD_LAG = timedelta(minutes=1)


def _latest(
    instance: DagsterInstance, key: AssetKey, partition: str | None
) -> EventLogRecord | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    return records[0] if records else None


class ReadChangingInputs(AutomationCondition):
    """True for a partition whose latest build came from a run that started before one of its
    parent partitions was last updated by another run: the build may have read the old parent.

    This closes the tick race of `since_last_handled`: a parent updated while the child's run
    was already past reading it sets the trigger, and the child's own materialization a tick
    later would reset it, leaving the child stale for good. A parent updated by the same run
    (a backfill run builds silver before the facts of its days) was read after it was written.
    The run's start is earlier than the step's read, so the rule may ask for one build too many,
    never one too few. Evaluated only on partitions that were just built (see `follow_upstream`).
    """

    @property
    def name(self) -> str:
        return "read_changing_inputs"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        if not isinstance(context.key, AssetKey):
            # A check (bronze_events_schema follows bronze too): a rerun costs a few queries,
            # and its next run reads the new data anyway.
            return AutomationResult(context=context, true_subset=context.get_empty_subset())
        view = context.asset_graph_view
        instance = view.instance
        parents = context.asset_graph.get(context.key).parent_entity_keys
        stale: set[str | None] = set()
        for partition in _partition_keys(context.candidate_subset):
            built = _latest(instance, context.key, partition)
            run = instance.get_run_record_by_id(built.run_id) if built and built.run_id else None
            if run is None or run.start_time is None:
                continue  # reported without a run: nothing was read
            child = (
                context.candidate_subset.compute_intersection_with_partition_keys({partition})
                if partition
                else None
            )
            for parent in parents:
                parent_partitions = (
                    _partition_keys(view.compute_parent_subset(parent, child))
                    if child is not None and context.asset_graph.get(parent).is_partitioned
                    else [None]
                )
                if any(
                    (update := _latest(instance, parent, key)) is not None
                    and update.run_id != built.run_id
                    and update.timestamp > run.start_time
                    for key in parent_partitions
                ):
                    stale.add(partition)
                    break
        true_subset = (
            context.candidate_subset.compute_intersection_with_partition_keys(
                {p for p in stale if p is not None}
            )
            if context.partitions_def
            else (context.candidate_subset if stale else context.get_empty_subset())
        )
        return AutomationResult(context=context, true_subset=true_subset)


class WaitsForParentRuns(AutomationCondition):
    """True for a partition one of whose parents this tick requests in another run.

    The automation sensor runs each requested day as one run (silver to the marts, in order)
    and different days, and the unpartitioned dimensions, in runs of their own, in parallel. A
    lookback dependent (sessions read D-1, attribution D-7..D) must not run beside the run that
    rebuilds its older parent day, nor a dimension beside a run that rebuilds any fact day: it
    waits, and is requested once that run has ended (`any_deps_in_progress`), instead of racing
    it and being built twice (`ReadChangingInputs` would catch the race, at the cost of a build).
    """

    @property
    def name(self) -> str:
        return "waits_for_parent_runs"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        if not isinstance(context.key, AssetKey):
            return AutomationResult(context=context, true_subset=context.get_empty_subset())
        view, graph = context.asset_graph_view, context.asset_graph
        parents = [
            (parent, requested)
            for parent in graph.get(context.key).parent_entity_keys
            if (requested := context.request_subsets_by_key.get(parent)) is not None
            and not requested.is_empty
        ]
        if not context.partitions_def:
            # An unpartitioned parent requested now shares this table's run; a daily one does not.
            waiting = any(graph.get(parent).is_partitioned for parent, _ in parents)
            return AutomationResult(
                context=context,
                true_subset=context.candidate_subset if waiting else context.get_empty_subset(),
            )
        waiting_days = set()
        for partition in _partition_keys(context.candidate_subset):
            day = context.candidate_subset.compute_intersection_with_partition_keys({partition})
            for parent, requested in parents:
                mapped = set(_partition_keys(view.compute_parent_subset(parent, day)))
                if (mapped - {partition}) & set(_partition_keys(requested)):
                    waiting_days.add(partition)
                    break
        true_subset = context.candidate_subset.compute_intersection_with_partition_keys(
            waiting_days
        )
        return AutomationResult(context=context, true_subset=true_subset)


class UnpartitionedTableOverdue(AutomationCondition):
    """True for every partition of a daily asset while an unpartitioned table (a dimension, the
    quarantine, the master view) is overdue: it has waited more than `UNPARTITIONED_MAX_LAG`
    for an update of a daily parent.

    `WaitsForParentRuns` makes an unpartitioned table wait while a day of its parent is
    requested or running. Under steady traffic one always is (today, every tick), so it would
    wait for good: the dimensions stayed empty in a live demo. An overdue table does not race the
    day runs instead (its cover-facts check would fail on facts newer than it): every daily
    asset holds (holding only its parents would split a day run in two), the table is requested
    once its parents' runs have ended, and the days go on once it has read them
    (`ReadByARunningRun`). The cost is one delayed day run per lag, at most.
    """

    @property
    def name(self) -> str:
        return "unpartitioned_table_overdue"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        if (
            not isinstance(context.key, AssetKey)
            or not context.partitions_def
            or context.candidate_subset.is_empty
        ):
            return AutomationResult(context=context, true_subset=context.get_empty_subset())
        instance = context.asset_graph_view.instance
        tick = (id(instance), context.evaluation_time)
        if _overdue_on_tick.get("tick") != tick:  # once per tick, not once per daily asset
            _overdue_on_tick.update(tick=tick, overdue=_any_overdue(context.asset_graph, instance))
        overdue = _overdue_on_tick["overdue"]
        return AutomationResult(
            context=context,
            true_subset=context.candidate_subset if overdue else context.get_empty_subset(),
        )


_overdue_on_tick: dict = {}


def _any_overdue(graph, instance: DagsterInstance) -> bool:
    for table in graph.get_all_asset_keys():
        node = graph.get(table)
        if node.is_partitioned or node.automation_condition is None:
            continue
        parents = [p for p in node.parent_entity_keys if graph.get(p).is_partitioned]
        updates = [u.timestamp for p in parents if (u := _latest(instance, p, None)) is not None]
        if updates and _overdue(instance, table, parents, max(updates)):
            return True
    return False


def _overdue(
    instance: DagsterInstance, table: AssetKey, parents: list[AssetKey], parent_updated_at: float
) -> bool:
    """Whether `table` has waited more than `UNPARTITIONED_MAX_LAG` for its `parents`' latest
    update, at `parent_updated_at`: it was last attempted (materialized, or planned in a run)
    before it, and that long ago. Never attempted, it has waited since the parents' first
    update, and `UNPARTITIONED_FIRST_BUILD_LAG` is enough."""
    attempts = []
    if (built := _latest(instance, table, None)) is not None:
        attempts.append(built.timestamp)
    planned = instance.get_latest_planned_materialization_info(table)
    if planned is not None and (run := instance.get_run_record_by_id(planned.run_id)) is not None:
        attempts.append(run.create_timestamp.timestamp())
    if attempts:
        waiting_since, lag = max(attempts), UNPARTITIONED_MAX_LAG
        if waiting_since >= parent_updated_at:
            return False
    else:
        firsts = [
            record.timestamp
            for parent in parents
            for record in instance.fetch_materializations(
                AssetRecordsFilter(asset_key=parent), limit=1, ascending=True
            ).records
        ]
        waiting_since, lag = min(firsts, default=parent_updated_at), UNPARTITIONED_FIRST_BUILD_LAG
    return waiting_since < datetime.now().timestamp() - lag.total_seconds()


def _partition_keys(subset) -> list[str | None]:
    if subset.is_empty:
        return []
    return sorted(subset.expensively_compute_partition_keys()) if subset.is_partitioned else [None]


class FutureDayWithoutEvents(AutomationCondition):
    """True for a day after today (business time zone) for which no ingest run reported events.

    The partitions reach tomorrow because a device clock may run up to 24 h ahead (docs/events.md).
    Tomorrow's facts and marts look back on today, so every update of today would build them,
    empty, with no event of their own; they wait until bronze holds one for that day.
    """

    @property
    def name(self) -> str:
        return "future_day_without_events"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        if not context.partitions_def:
            return AutomationResult(context=context, true_subset=context.get_empty_subset())
        today = datetime.now(SETTINGS.tz).date().isoformat()
        instance = context.asset_graph_view.instance
        empty = {
            day
            for day in _partition_keys(context.candidate_subset)
            if day is not None and day > today and _latest(instance, BRONZE_EVENTS, day) is None
        }
        true_subset = context.candidate_subset.compute_intersection_with_partition_keys(empty)
        return AutomationResult(context=context, true_subset=true_subset)


def follow_upstream() -> AutomationCondition:
    """`eager()` without its latest-window limit and without waiting for missing parents, whose
    updates count as handled only when the build did not race them.

    Late events re-materialize old partitions, so the latest-window limit must go. A day with no
    events has no bronze partition; waiting for "missing" parents would stall the lookback
    dependents (sessions D+1, attribution D+1..D+7) forever, and a missing Parquet file reads
    as an empty table anyway. A build that raced a parent update is requested again, even when
    the parent's update is one `any_deps_updated` ignores (its run also targeted this asset).
    """
    raced = AutomationCondition.newly_updated() & ReadChangingInputs()
    changed = AutomationCondition.any_deps_updated() | raced
    parent_requested_now = AutomationCondition.any_deps_match(
        AutomationCondition.will_be_requested()
    ).with_label("any_deps_requested_now")
    # `since` lets a reset on the same tick win, so a reset must never answer an update it did
    # not see. Both terms below are true on the tick after a request or a build, when a later
    # change shows too (each seen losing data in make bench):
    handled = (
        # a request answers the updates it saw, not one that landed after it;
        (AutomationCondition.newly_requested() & ~changed)
        # a build answers the parent versions it read, not a rebuild of a parent requested now
        # (silver rebuilt for new bronze without its facts, failing a blocking check).
        | (AutomationCondition.newly_updated() & ~ReadChangingInputs() & ~parent_requested_now)
        | AutomationCondition.initial_evaluation()
    ).with_label("handled")
    return (
        changed.since(handled)
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & ~WaitsForParentRuns()
        & ~UnpartitionedTableOverdue()
        & ~ReadByARunningRun()
        & ~FutureDayWithoutEvents()
    ).with_label("follow_upstream")


class DayBeingBuilt(AutomationCondition):
    """True for the days a run is building `asset` for right now.

    The bronze schema check follows bronze (the ingest run announces bronze without running the
    asset) and rides in the run that builds silver for the same day, when both are requested on
    one tick. While silver is being built it waits, instead of starting a run of its own for
    one check each time an ingest run announces a batch (a process start every tick).
    """

    def __init__(self, asset: str) -> None:
        self.asset = AssetKey(asset)
        super().__init__()

    @property
    def name(self) -> str:
        return f"day_being_built({self.asset.to_user_string()})"

    async def evaluate(self, context: AutomationContext) -> AutomationResult:
        view = context.asset_graph_view
        running = await view.compute_run_in_progress_subset(
            key=self.asset, from_subset=view.get_full_subset(key=self.asset)
        )
        days = {key for key in _partition_keys(running) if key is not None}
        true_subset = context.candidate_subset.compute_intersection_with_partition_keys(days)
        return AutomationResult(context=context, true_subset=true_subset)


class ReadByARunningRun(AutomationCondition):
    """True for a partition that a run still in progress reads: the run builds a child of it
    for a day whose lookback covers this partition.

    Dagster stops counting a partition as in progress once its run has materialized it, while
    later steps of the same run (the facts, their checks) still read it. Rebuilding it then
    changes a table under a reader: a reconciliation check would compare the new silver with
    facts built from the old one and fail for nothing. So the partition waits for that run.
    """

    @property
    def name(self) -> str:
        return "read_by_a_running_run"

    def evaluate(self, context: AutomationContext) -> AutomationResult:
        if not isinstance(context.key, AssetKey) or context.candidate_subset.is_empty:
            return AutomationResult(context=context, true_subset=context.get_empty_subset())
        readers = _running_readers(context.asset_graph_view.instance)
        graph, view = context.asset_graph, context.asset_graph_view
        children = [c for c in graph.get(context.key).child_entity_keys if isinstance(c, AssetKey)]
        waiting = set()
        for partition in _partition_keys(context.candidate_subset):
            day = (
                context.candidate_subset.compute_intersection_with_partition_keys({partition})
                if partition
                else context.candidate_subset
            )
            for child in children:
                read = set(_partition_keys(view.compute_child_subset(child, day)))
                if any(
                    child in selection and (days is None or read & days or None in read)
                    for selection, days in readers
                ):
                    waiting.add(partition)
                    break
        if not context.partitions_def:
            true_subset = context.candidate_subset if waiting else context.get_empty_subset()
        else:
            true_subset = context.candidate_subset.compute_intersection_with_partition_keys(
                {p for p in waiting if p is not None}
            )
        return AutomationResult(context=context, true_subset=true_subset)


def _running_readers(instance: DagsterInstance) -> list[tuple[set[AssetKey], set[str] | None]]:
    """(assets, days) of every asset run in progress; days None for an unpartitioned run."""
    readers = []
    for record in instance.get_run_records(RunsFilter(statuses=RUNS_IN_FLIGHT)):
        run = record.dagster_run
        if not run.asset_selection:
            continue  # an op job (ingest): it reads no table
        tags = run.tags
        if "dagster/partition" in tags:
            days: set[str] | None = {tags["dagster/partition"]}
        elif "dagster/asset_partition_range_start" in tags:
            start, end = (tags[f"dagster/asset_partition_range_{e}"] for e in ("start", "end"))
            days = set(daily_partitions.get_partition_keys_in_range(PartitionKeyRange(start, end)))
        else:
            days = None
        readers.append((set(run.asset_selection), days))
    return readers
