"""Late events re-materialize exactly the partitions they affect, old ones included, with no clicks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg

from nelo_assets.definitions import defs
from nelo_assets.defs import automation
from nelo_assets.defs.jobs import DAILY_PIPELINE_ASSETS
from nelo_assets.defs.load_settings import SETTINGS
from nelo_assets.transform.business_rules import ATTRIBUTION_LOOKBACK_DAYS, SESSION_LOOKBACK_DAYS

AFTER_BRONZE = [name for name in DAILY_PIPELINE_ASSETS if name != "bronze_events"]
# fact_event_items reads the attribution window and the marts follow it: a rebuilt day makes
# the days after it within that window stale.
ATTRIBUTED = (
    "fact_event_items",
    "mart_item_list_daily",
    "mart_product_daily",
    "mart_list_position_daily",
)


def _days(start: date, count: int) -> set[str]:
    return {(start + timedelta(days=n)).isoformat() for n in range(count)}


def _report_bronze(instance: dg.DagsterInstance, partition: date) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="bronze_events", partition=partition.isoformat())
    )


def _complete(instance: dg.DagsterInstance, result: dg.EvaluateAutomationConditionsResult) -> None:
    """The runs a tick requested succeed (reported without a run: nothing to race)."""
    for name in AFTER_BRONZE:
        for partition in result.get_requested_partitions(dg.AssetKey(name)):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=name, partition=partition)
            )


def test_late_bronze_partition_requests_exactly_its_dependents() -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0, "nothing was ever materialized: nothing to do"

    old_day = date(2026, 3, 10)  # far outside the latest time window
    _report_bronze(instance, old_day)
    day_run = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)

    def requested(result: dg.EvaluateAutomationConditionsResult, key: str) -> set[str | None]:
        return set(result.get_requested_partitions(dg.AssetKey(key)))

    # First the day itself, silver to the marts (one run). The unpartitioned tables run apart,
    # so they wait for it: quarantine counts silver's quarantine too.
    for name in AFTER_BRONZE:
        assert requested(day_run, name) == {old_day.isoformat()}, name
    unpartitioned = {"dim_items", "dim_users", "master_list_items_engagement"}
    for name in unpartitioned | {"quarantine"}:
        assert not requested(day_run, name), name

    # Once that run has succeeded, the days whose lookback reads the rebuilt day follow:
    # D+1 (sessions), D+1..D+7 (attribution, marts). (While it runs, `any_deps_in_progress`
    # holds them; runless reports here have no run to be in progress.)
    _complete(instance, day_run)
    lookback = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=day_run.cursor
    )
    later = _days(old_day + timedelta(days=1), ATTRIBUTION_LOOKBACK_DAYS)
    assert requested(lookback, "silver_events") == set()
    assert requested(lookback, "fact_events") == _days(
        old_day + timedelta(days=1), SESSION_LOOKBACK_DAYS
    )
    for name in ATTRIBUTED:
        assert requested(lookback, name) == later, name
    assert requested(lookback, "quarantine") == {None}
    for name in unpartitioned:
        assert not requested(lookback, name), f"{name} waits for the fact runs"

    # Those runs succeed: the unpartitioned tables follow on the next tick, once.
    _complete(instance, lookback)
    after_runs = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=lookback.cursor
    )
    for name in unpartitioned:
        assert requested(after_runs, name) == {None}, name
    requested_assets = {
        r.key
        for r in after_runs.results
        if isinstance(r.key, dg.AssetKey) and not r.true_subset.is_empty
    }
    assert requested_assets == {dg.AssetKey(name) for name in unpartitioned}

    again = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=after_runs.cursor
    )
    assert again.total_requested == 0, "a handled update is not requested twice"


def test_tomorrow_is_built_only_once_it_has_events() -> None:
    """Tomorrow's facts and marts look back on today, yet wait for an event of their own day
    (a device clock ahead) instead of being built empty after every update of today."""
    instance = dg.DagsterInstance.ephemeral()
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    today = datetime.now(SETTINGS.tz).date()
    tomorrow = (today + timedelta(days=1)).isoformat()

    _report_bronze(instance, today)
    today_run = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    _complete(instance, today_run)
    lookback = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=today_run.cursor
    )
    for name in DAILY_PIPELINE_ASSETS[1:]:
        assert tomorrow not in lookback.get_requested_partitions(dg.AssetKey(name)), name

    _report_bronze(instance, today + timedelta(days=1))
    ahead = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=lookback.cursor)
    for name in DAILY_PIPELINE_ASSETS[1:]:
        assert tomorrow in ahead.get_requested_partitions(dg.AssetKey(name)), name


def test_automation_runs_each_check_with_its_asset() -> None:
    """Every check of a daily asset is requested with it, for the same day: a check that
    automation left out never gated a live update, and read "Not evaluated" in the UI."""
    instance = dg.DagsterInstance.ephemeral()
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    day = date(2026, 3, 10)
    _report_bronze(instance, day)
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    requested = {
        r.key: r.true_subset.expensively_compute_partition_keys()
        for r in result.results
        if isinstance(r.key, dg.AssetCheckKey)
    }
    graph = defs.resolve_asset_graph()
    for name in DAILY_PIPELINE_ASSETS[1:]:
        for check in graph.get_check_keys_for_assets({dg.AssetKey(name)}):
            assert requested[check] == {day.isoformat()}, check


class LiveTraffic:
    """Ticks under steady traffic, with runs that take time: bronze of today lands before every
    tick, and each tick's run builds silver at once but its facts and marts only by the next
    tick (in progress meanwhile, as Dagster sees a run's planned materializations)."""

    SILVER = frozenset({"silver_events", "silver_items"})

    def __init__(self) -> None:
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = dg.evaluate_automation_conditions(defs=defs, instance=self.instance).cursor
        self.today = datetime.now(SETTINGS.tz).date().isoformat()
        self.running: list[tuple[dg.DagsterRun, list[tuple[str, str | None]]]] = []

    def tick(self) -> dict[str, set[str | None]]:
        self._materialize("bronze_events", self.today)
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=self.instance, cursor=self.cursor
        )
        self.cursor = result.cursor
        for run, rest in self.running:  # the last tick's runs end
            for name, partition in rest:
                self._materialize(name, partition)
            self.instance.report_run_failed(run)  # ended; its outcome does not matter here
        self.running = []
        requested = {
            r.key.to_user_string(): partitions
            for r in result.results
            if isinstance(r.key, dg.AssetKey)
            and (partitions := set(result.get_requested_partitions(r.key)))
        }
        for partition in {p for partitions in requested.values() for p in partitions}:
            self._start(partition, [n for n, parts in requested.items() if partition in parts])
        return requested

    def _start(self, partition: str | None, names: list[str]) -> None:
        """One run per partition, as the automation sensor launches them."""
        run = self.instance.create_run_for_job(
            job_def=defs.resolve_implicit_global_asset_job_def(),
            asset_selection=frozenset(dg.AssetKey(name) for name in names),
            tags={"dagster/partition": partition} if partition else {},
            status=dg.DagsterRunStatus.STARTED,
        )
        for name in self.SILVER & set(names):
            self._materialize(name, partition)
        self.running.append((run, [(n, partition) for n in names if n not in self.SILVER]))

    def _materialize(self, name: str, partition: str | None) -> None:
        self.instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=name, partition=partition)
        )


def test_steady_traffic_does_not_starve_the_dimensions(monkeypatch) -> None:
    """Seen in a live demo: a day run of today was requested or running on every tick, and the
    dimensions, which wait for their parents' day runs, were never built. They wait at most
    UNPARTITIONED_MAX_LAG (a minute for their first build): then the day runs hold one tick and
    the dimensions run alone."""
    live = LiveTraffic()
    graph = defs.resolve_asset_graph()
    dimensions = {"dim_items", "dim_users"}

    def assert_built_alone(requested: dict[str, set[str | None]]) -> None:
        assert dimensions <= set(requested)
        for name in dimensions:
            for parent in graph.get(dg.AssetKey(name)).parent_entity_keys:
                assert parent.to_user_string() not in requested, (name, parent)

    # Within the lag, today's day run goes every other tick and the dimensions wait.
    ticks = [live.tick() for _ in range(8)]
    assert sum(live.today in t.get("fact_events", ()) for t in ticks) == 4
    assert not dimensions & {name for t in ticks for name in t}

    # Past the lag (made zero here instead of waiting a minute), the dimensions are first built
    # on the next tick, with no run of their parents requested beside them.
    monkeypatch.setattr(automation, "UNPARTITIONED_FIRST_BUILD_LAG", timedelta(0))
    assert_built_alone(live.tick())

    # Built once, they wait the longer lag: today's day runs go on without them...
    ticks = [live.tick() for _ in range(6)]
    assert any(live.today in t.get("fact_events", ()) for t in ticks)
    assert not dimensions & {name for t in ticks for name in t}
    # ...until it has passed too: they follow once the day run in progress has ended.
    monkeypatch.setattr(automation, "UNPARTITIONED_MAX_LAG", timedelta(0))
    requested = live.tick()
    if not dimensions & set(requested):
        assert live.running, "nothing to wait for, yet the dimensions were not requested"
        requested = live.tick()
    assert_built_alone(requested)
