"""Asset checks on hand-made Parquet partitions: each check passes on a clean day and fails, naming
the culprit, once the data is broken on purpose; a blocking failure stops downstream work."""

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    Definitions,
    EnvVar,
    evaluate_automation_conditions,
    materialize,
)

from nelo_assets.defs.bronze import checks as bronze
from nelo_assets.defs.checking import Check
from nelo_assets.defs.gold import checks as gold
from nelo_assets.defs.gold.assets import fact_events
from nelo_assets.defs.marts import checks as marts
from nelo_assets.defs.resources import ChecksResource
from nelo_assets.defs.silver import checks as silver
from nelo_assets.defs.silver.assets import silver as silver_asset
from nelo_assets.quality import rules as check_rules
from nelo_assets.quality.thresholds import Thresholds
from nelo_assets.settings import DEFAULT_FRESHNESS_HOURS, SettingsError
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect
from nelo_assets.transform.silver import build_silver_partition
from nelo_assets_tests.check_runs import ALL_CHECKS, CHECK_STANDINS, DECLARED_CHECKS, run_checks
from nelo_assets_tests.clean_day import CHECK_DAY as D
from nelo_assets_tests.clean_day import (
    CHECK_LIMITS,
    World,
    check_lake_resource,
    clean_bronze_row,
    copy_clean_day,
    write_clean_day,
)
from nelo_assets_tests.environment import REPO, at
from nelo_assets_tests.rows import write_rows


@pytest.fixture(scope="module")
def clean_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clean_day(tmp_path_factory.mktemp("clean") / "data")


@pytest.fixture
def world(clean_lake: Path, tmp_path: Path) -> World:
    return copy_clean_day(clean_lake, tmp_path / "data")


# One instance for the many short check runs: creating one per run costs more than the run.
INSTANCE = DagsterInstance.ephemeral()


def test_clean_day_passes_every_check(world: World) -> None:
    evaluations = run_checks(world, ALL_CHECKS)
    assert set(evaluations) == set(DECLARED_CHECKS)
    failed = {name: e.description for name, e in evaluations.items() if not e.passed}
    assert failed == {}
    # the reconciliation counts are computed, not assumed: 6 bronze = 4 + 1 + 1 duplicate
    reconciliation = evaluations[silver.RECONCILIATION.name]
    assert reconciliation.description == "bronze 6 = silver 4 + quarantine 1 + duplicates 1"
    for name, evaluation in evaluations.items():
        check = DECLARED_CHECKS[name]
        assert evaluation.severity == check.severity
        assert bool(evaluation.blocking) == check.blocking
        assert evaluation.partition == (None if name in UNPARTITIONED else D.isoformat())


def test_the_check_modules_hold_every_check_of_the_code_location() -> None:
    """The helpers find checks by scanning the four check modules: nothing may hide elsewhere."""
    from nelo_assets.definitions import defs

    loaded = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert loaded == set(DECLARED_CHECKS)
    assert loaded == {key.name for checks_def in ALL_CHECKS for key in checks_def.check_keys}
    assert len(loaded) == 37
    for checks_def in ALL_CHECKS:
        for spec in checks_def.check_specs:
            check = DECLARED_CHECKS[spec.name]
            assert spec.asset_key.to_user_string() == check.asset
            assert spec.blocking == check.blocking
            assert spec.metadata["severity"] == check.severity.value


UNPARTITIONED = {
    check.name
    for check in (
        bronze.REASON_CODES_KNOWN,
        gold.DIM_ITEMS_KEY,
        gold.DIM_ITEMS_SCD2,
        gold.DIM_ITEMS_COVERAGE,
        gold.DIM_ITEMS_MONEY,
        gold.DIM_USERS_KEY,
        gold.DIM_USERS_COVERAGE,
        gold.DIM_USERS_MONEY,
        gold.ENGAGEMENT_RECONCILIATION,
    )
}


def _dup_event(w: World) -> None:
    w.save("silver_events", [*w.tables["silver_events"], dict(w.tables["silver_events"][0])])


def _lose_silver_event(w: World) -> None:
    w.save("silver_events", [e for e in w.tables["silver_events"] if e["event_id"] != "e4"])


def _quarantine_flood(w: World) -> None:
    bad = [clean_bronze_row(f"q{n}", {"items": [{"price": -1}]}, at(D, 14)) for n in range(10)]
    w.save("bronze_events", [*w.tables["bronze_events"], *bad])
    rows = [
        {**w.tables["silver_quarantine"][0], "message_id": f"q{n}", "reason": "invalid_item"}
        for n in range(10)
    ]
    w.save("silver_quarantine", [*w.tables["silver_quarantine"], *rows])


def _disagreeing_copy(w: World) -> None:
    copy = {**w.tables["silver_events"][0], "event_date": D + timedelta(days=1)}
    write_rows(
        w.lake.partition_file("silver_events", D + timedelta(days=1)), "silver_events", [copy]
    )


def _orphan_item(w: World) -> None:
    orphan = {**w.tables["silver_items"][0], "item_record_id": "ghost:0", "event_id": "ghost"}
    w.save("silver_items", [*w.tables["silver_items"], orphan])


def _drop_fact_event(w: World) -> None:
    w.save("fact_events", [e for e in w.tables["fact_events"] if e["event_id"] != "e4"])


def _orphan_fact_item(w: World) -> None:
    w.edit("fact_event_items", "event_item_id", "e3:0", event_id="e9")


def _misrouted_bronze(w: World) -> None:
    w.edit("bronze_events", "message_id", "m2", event_timestamp=at(D + timedelta(days=2), 13))


def _scd2_overlap(w: World) -> None:
    w.edit("dim_items", "item_sk", "sk-1a", valid_to=at(D, 15, 30))


def _scd2_two_current(w: World) -> None:
    w.edit("dim_items", "item_sk", "sk-1a", valid_to=None, is_current=True)


def _hidden_gap(w: World) -> None:
    # e2 moves 40 min after e1 but keeps e1's session
    w.edit("fact_events", "event_id", "e2", event_timestamp=at(D, 13, 40))


def _split_visit(w: World) -> None:
    # e4 comes 10 min after e3 (same user) but opens a new session
    w.edit("fact_events", "event_id", "e4", event_timestamp=at(D, 15, 10))


def _duplicate_mart_row(w: World) -> None:
    rows = w.tables["mart_item_list_daily"]
    w.save("mart_item_list_daily", [*rows, dict(rows[0])])


def _duplicate_position_row(w: World) -> None:
    rows = w.tables["mart_list_position_daily"]
    w.save("mart_list_position_daily", [*rows, dict(rows[1])])


def _unlisted_engagement(w: World) -> None:
    # the listed item row's event sits in another partition: the view's join loses it
    w.edit("fact_event_items", "event_item_id", "e2:1", event_id="e7")


Breakage = Callable[[World], None]
BREAKAGES: list[tuple[str, Breakage, AssetChecksDefinition, Check, str]] = [
    ("bronze misrouted", _misrouted_bronze, bronze.bronze_events_checks, bronze.SCHEMA,
     f"'m2' has event_date {D}, local date of its event_timestamp {D + timedelta(days=2)}"),
    ("unknown reason", lambda w: w.edit("silver_quarantine", "message_id", "m6", reason="oops"),
     bronze.quarantine_checks, bronze.REASON_CODES_KNOWN, "reason = 'oops' (1 rows)"),
    ("duplicate event_id", _dup_event, silver.silver_checks, silver.EVENTS_KEY,
     "'e1' appears 2 times"),
    ("bad platform", lambda w: w.edit("silver_events", "event_id", "e3", platform="BLACKBERRY"),
     silver.silver_checks, silver.EVENTS_SCHEMA, "platform = 'BLACKBERRY'"),
    ("missing user", lambda w: w.edit("silver_events", "event_id", "e3", user_id=None),
     silver.silver_checks, silver.EVENTS_SCHEMA, "'e3': user_id is NULL"),
    ("event lost", _lose_silver_event, silver.silver_checks, silver.RECONCILIATION,
     "bronze m4#0 is in neither silver_events nor quarantine"),
    ("quarantine flood", _quarantine_flood, silver.silver_checks, silver.QUARANTINE_RATE,
     "quarantine rate 68.8% (11 of 16 bronze rows)"),
    ("unknown name", lambda w: w.edit("silver_events", "event_id", "e4", event_name="purchse"),
     silver.silver_checks, silver.UNKNOWN_EVENT_NAMES, "'purchse' (1 events)"),
    ("unknown platform", lambda w: w.edit("silver_events", "event_id", "e4", platform="UNKNOWN"),
     silver.silver_checks, silver.UNKNOWN_PLATFORM, "UNKNOWN on 25.0% of events (1 of 4)"),
    ("copy in two dates", _disagreeing_copy, silver.silver_checks,
     silver.CROSS_PARTITION_DUPLICATES, f"e1 also in {D + timedelta(days=1)}"),
    ("orphan item", _orphan_item, silver.silver_checks, silver.ITEMS_HAVE_EVENTS,
     "'ghost:0' -> event_id 'ghost' not in silver_events"),
    ("negative price", lambda w: w.edit("silver_items", "item_record_id", "e3:0", price=-5.0),
     silver.silver_checks, silver.ITEMS_MONEY, "'e3:0': price = -5.00"),
    ("fact lost", _drop_fact_event, gold.fact_events_checks, gold.EVENTS_RECONCILIATION,
     "'e4' in silver_events, missing from fact_events"),
    ("hidden gap", _hidden_gap, gold.fact_events_checks, gold.SESSIONS,
     "e1 and e2 are 2400 s apart but share session s1"),
    ("split visit", _split_visit, gold.fact_events_checks, gold.SESSIONS,
     "e3 and e4 are 600 s apart but in sessions s2 and s3"),
    ("bad attribution",
     lambda w: w.edit("fact_event_items", "event_item_id", "e3:0", attribution_source="first"),
     gold.fact_event_items_checks, gold.ITEMS_SCHEMA, "attribution_source = 'first'"),
    ("orphan fact item", _orphan_fact_item, gold.fact_event_items_checks, gold.ITEMS_HAVE_EVENTS,
     "'e3:0' -> event_id 'e9' not in fact_events"),
    ("negative total",
     lambda w: w.edit("fact_event_items", "event_item_id", "e2:0", total_price=-1.0),
     gold.fact_event_items_checks, gold.ITEMS_MONEY, "'e2:0': total_price = -1.00"),
    ("scd2 overlap", _scd2_overlap, gold.dim_items_checks, gold.DIM_ITEMS_SCD2,
     "version sk-1a of sku-1 valid_to"),
    ("scd2 two current", _scd2_two_current, gold.dim_items_checks, gold.DIM_ITEMS_SCD2,
     "item sku-1 has 2 current versions"),
    ("item missing from dim",
     lambda w: w.save("dim_items", [r for r in w.tables["dim_items"] if r["item_id"] != "sku-2"]),
     gold.dim_items_checks, gold.DIM_ITEMS_COVERAGE, "item_id 'sku-2' not in dim_items"),
    ("user missing from dim",
     lambda w: w.save("dim_users", [r for r in w.tables["dim_users"] if r["user_id"] != "u2"]),
     gold.dim_users_checks, gold.DIM_USERS_COVERAGE, "user_id 'u2' not in dim_users"),
    ("negative revenue", lambda w: w.edit("dim_users", "user_id", "u2", total_revenue=-3.0),
     gold.dim_users_checks, gold.DIM_USERS_MONEY, "'u2': total_revenue = -3.00"),
    ("mart grain", _duplicate_mart_row, marts.mart_item_list_daily_checks, marts.LIST_GRAIN,
     f"'{D}' / 'home' appears 2 times"),
    ("views stop arriving",
     lambda w: w.edit("mart_product_daily_metrics", "item_id", "sku-2", cart_adders=9, viewers=3),
     marts.mart_product_daily_checks, marts.PRODUCT_RATES, "cart_to_view_rate over the day is"),
    ("negative item revenue",
     lambda w: w.edit("mart_product_daily_metrics", "item_id", "sku-1", item_revenue=-2.0),
     marts.mart_product_daily_checks, marts.PRODUCT_MONEY, "item_revenue = -2.00"),
    ("position grain", _duplicate_position_row, marts.mart_list_position_daily_checks,
     marts.POSITION_GRAIN, f"'{D}' / 'home' / '1' appears 2 times"),
    ("negative position rate",
     lambda w: w.edit("mart_list_position_daily", "position_in_list", 0, item_click_rate=-2.0),
     marts.mart_list_position_daily_checks, marts.POSITION_RATES,
     "item_click_rate negative on 1 rows"),
    ("engagement loses a row", _unlisted_engagement, gold.master_list_items_engagement_checks,
     gold.ENGAGEMENT_RECONCILIATION, "'e2:1' in listed_items, missing from engagement"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("breakage", "checks_def", "check", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BREAKAGES],
)
def test_broken_data_fails_the_check_and_names_the_culprit(
    world: World,
    breakage: Breakage,
    checks_def: AssetChecksDefinition,
    check: Check,
    expected: str,
) -> None:
    # test_clean_day_passes_every_check shows each of these passing on the unbroken day
    breakage(world)
    after = run_checks(
        world, [checks_def], INSTANCE, partition=None if check.name in UNPARTITIONED else D
    )
    evaluation = after[check.name]
    assert not evaluation.passed
    assert expected in evaluation.description
    assert evaluation.severity == check.severity
    # the other checks of the group are not dragged down by this one breakage
    others = {n for n, e in after.items() if not e.passed} - {check.name}
    assert others <= COLLATERAL.get(check, set())


# Breakages that legitimately trip a sibling check too.
COLLATERAL = {
    silver.RECONCILIATION: set(),
    silver.QUARANTINE_RATE: set(),
    silver.ITEMS_HAVE_EVENTS: set(),
    gold.ITEMS_HAVE_EVENTS: set(),
    gold.DIM_ITEMS_SCD2: set(),
    silver.EVENTS_KEY: {silver.RECONCILIATION.name},
}


def test_every_check_has_a_breakage_test_or_is_covered_below() -> None:
    broken = {case[3] for case in BREAKAGES}
    assert set(DECLARED_CHECKS.values()) - broken == {
        silver.ITEMS_KEY,
        gold.EVENTS_KEY,
        gold.EVENTS_SCHEMA,
        gold.ITEMS_KEY,
        gold.ITEMS_RECONCILIATION,
        gold.DIM_ITEMS_KEY,
        gold.DIM_ITEMS_MONEY,
        gold.DIM_USERS_KEY,
        marts.LIST_RATES,
        marts.LIST_MONEY,
        marts.PRODUCT_GRAIN,
    }  # these reuse the rules tested above (unique_key, same_keys, ...) on other tables


def _local(day: date, minutes: int) -> datetime:
    """`minutes` after local midnight of `day` in Mexico City (UTC-6), as UTC."""
    return at(day, 6) + timedelta(minutes=minutes)


def test_session_split_allowed_only_for_a_visit_reaching_before_the_window() -> None:
    """Events 20 min apart all through D-1 into D: the chain starts at the user's first event
    of the window, so the visit may have begun on D-2 (active > 24 h) and D may split it. After
    a real 2-hour gap on D-1 the chain starts inside the window: the same split is an error."""
    previous = D - timedelta(days=1)
    rows = [(f"a{n:03d}", _local(previous, 5 + 20 * n), previous, "old") for n in range(72)]
    rows.append(("d000", _local(D, 5), D, "new"))  # 20 min after a071 (local 23:45 of D-1)

    def violations(kept: list[tuple[str, datetime, date, str]]) -> check_rules.Outcome:
        with connect() as con:
            con.execute(
                "create table sessions_window (user_id varchar, event_id varchar, "
                "event_timestamp timestamptz, event_date date, session_id varchar)"
            )
            con.executemany("insert into sessions_window values ('u', ?, ?, ?, ?)", kept)
            return check_rules.session_violations(con, D)

    assert violations(rows).passed
    gapped = [row for row in rows if not 30 <= int(row[0][1:]) < 36 or row[0] == "d000"]
    outcome = violations(gapped)
    assert not outcome.passed
    assert "a071 and d000 are 1200 s apart but in sessions old and new" in outcome.message


def test_thresholds_are_read_by_the_checks_resource() -> None:
    limits = ChecksResource(max_quarantine_rate="0.5", known_event_names="a, b").thresholds
    assert limits.max_quarantine_rate == 0.5
    assert {"a", "b", "purchase"} <= limits.known_event_names
    assert ChecksResource().thresholds == Thresholds()
    assert ChecksResource(duplicate_window_days="").thresholds == Thresholds()
    with pytest.raises(SettingsError, match="NELO_MAX_QUARANTINE_RATE='2' must be between"):
        _ = ChecksResource(max_quarantine_rate="2").thresholds
    with pytest.raises(SettingsError, match="NELO_DUPLICATE_WINDOW_DAYS='soon' is not a number"):
        _ = ChecksResource(duplicate_window_days="soon").thresholds


def test_a_threshold_set_in_the_environment_reaches_the_check(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code location hands the resource an EnvVar when the variable is set: the check reads
    the value at run time. One quarantined row in six is 16.7%."""
    from_env = replace(
        world, checks=ChecksResource(max_quarantine_rate=EnvVar("NELO_MAX_QUARANTINE_RATE"))
    )
    name = silver.QUARANTINE_RATE.name
    monkeypatch.setenv("NELO_MAX_QUARANTINE_RATE", "0.1")
    assert not run_checks(from_env, [silver.silver_checks], INSTANCE)[name].passed
    monkeypatch.setenv("NELO_MAX_QUARANTINE_RATE", "0.2")
    assert run_checks(from_env, [silver.silver_checks], INSTANCE)[name].passed


def test_bronze_freshness_is_a_dagster_policy_not_a_check() -> None:
    """Whether bronze is still updated is judged by Dagster's freshness daemon against the
    asset's policy (the health sensor alerts on it), so no check runs on the clock."""
    from nelo_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    policy_asset = AssetKey("bronze_events")
    policy = graph.get(policy_asset).freshness_policy
    assert policy.fail_window.to_timedelta() == timedelta(hours=DEFAULT_FRESHNESS_HOURS)
    on_bronze = {key.name for key in graph.asset_check_keys if key.asset_key == policy_asset}
    assert on_bronze == {bronze.SCHEMA.name}


def test_bronze_check_follows_ingest_reports() -> None:
    """Ingestion reports bronze partitions without executing the asset: the bronze check must
    be requested for exactly the partition reported."""
    defs = Definitions(
        assets=CHECK_STANDINS,
        asset_checks=[bronze.bronze_events_checks],
        resources={"lake": check_lake_resource(Path("."))},
    )
    instance = DagsterInstance.ephemeral()
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    instance.report_runless_asset_event(
        AssetMaterialization("bronze_events", partition=D.isoformat())
    )
    later = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    (key,) = bronze.bronze_events_checks.check_keys
    requested = {
        r.key: r.true_subset.expensively_compute_partition_keys()
        for r in later.results
        if r.true_subset.size
    }
    assert requested == {key: {D.isoformat()}}


def test_docs_table_lists_every_check() -> None:
    docs = (REPO / "docs" / "checks.md").read_text()
    catalogue = docs.split("## Catalogue")[1].split("\n## ")[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in catalogue.splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == set(DECLARED_CHECKS)
    for name, check in DECLARED_CHECKS.items():
        cells = [cell.strip() for cell in rows[name].split("|")]
        assert cells[2] == f"`{check.asset}`"
        assert check.severity.value in cells
        assert ("yes" if check.blocking else "no") in cells


def test_severity_is_meaningful() -> None:
    for check in DECLARED_CHECKS.values():
        if check.severity == AssetCheckSeverity.WARN:
            assert not check.blocking
    assert not gold.SESSIONS.blocking
    assert all(check.blocking for check in (silver.EVENTS_KEY, silver.RECONCILIATION))


def _raw_bronze(message_id: str, event_id: str, ts: datetime) -> dict[str, Any]:
    event = {
        "event_id": event_id,
        "event_name": "screen_view",
        "event_timestamp": ts.isoformat(),
        "user_id": "u1",
        "platform": "ios",
    }
    return {**clean_bronze_row(message_id, event, ts), "event_date": D}


def test_blocking_failure_stops_downstream_until_the_data_is_fixed(tmp_path: Path) -> None:
    """A mis-routed bronze row flows into silver; the blocking silver check stops fact_events in
    the same run. With the row gone, the re-run goes through."""
    lake = Lake(tmp_path / "data")
    resource = check_lake_resource(lake.root)
    good = [_raw_bronze("m1", "e1", at(D, 13)), _raw_bronze("m2", "e2", at(D, 13, 5))]
    misrouted = _raw_bronze("m3", "e3", at(D + timedelta(days=3), 13))
    bronze_file = lake.partition_dir("bronze_events", D) / "batch-1.parquet"
    instance = DagsterInstance.ephemeral()
    selected = [silver.silver_checks, gold.fact_events_checks]

    def materialize_day() -> Any:
        return materialize(
            [silver_asset, fact_events, *selected],
            partition_key=D.isoformat(),
            resources={"lake": resource, "checks": CHECK_LIMITS},
            instance=instance,
            raise_on_error=False,
        )

    write_rows(bronze_file, "bronze_events", [*good, misrouted])
    blocked = materialize_day()
    assert not blocked.success
    materialized = {
        e.asset_key.to_user_string() for e in blocked.get_asset_materialization_events()
    }
    assert "silver_events" in materialized
    assert "fact_events" not in materialized
    assert not lake.partition_file("fact_events", D).exists()
    schema = {e.check_name: e for e in blocked.get_asset_check_evaluations()}[
        silver.EVENTS_SCHEMA.name
    ]
    assert not schema.passed and "'e3' has event_date" in schema.description

    write_rows(bronze_file, "bronze_events", good)
    fixed = materialize_day()
    assert fixed.success
    evaluations = fixed.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        key.name for checks_def in selected for key in checks_def.check_keys
    }
    assert len(evaluations) == 14
    assert all(e.passed for e in evaluations), [e.description for e in evaluations if not e.passed]
    with connect() as con:
        ids = con.execute(
            "select event_id from read_parquet(?) order by 1",
            [str(lake.partition_file("fact_events", D))],
        ).fetchall()
    assert ids == [("e1",), ("e2",)]


def test_reconciliation_compares_silver_with_the_bronze_it_was_built_from(world: World) -> None:
    """An ingest run may add a bronze file to the day between its silver build and the build's
    checks: they compare silver with the bronze files it read (its footer names them)."""
    build_silver_partition(world.lake, world.resource.settings, D)
    late = clean_bronze_row("late-1", {}, at(D, 15))
    write_rows(
        world.lake.partition_dir("bronze_events", D) / "batch-2.parquet", "bronze_events", [late]
    )

    reconciliation = run_checks(world, [silver.silver_checks], INSTANCE, partition=D)[
        silver.RECONCILIATION.name
    ]
    assert reconciliation.passed, reconciliation.description
    assert reconciliation.description.startswith("bronze 6 = "), reconciliation.description

    # The next build reads the new file too, and so do its checks.
    build_silver_partition(world.lake, world.resource.settings, D)
    reconciliation = run_checks(world, [silver.silver_checks], INSTANCE, partition=D)[
        silver.RECONCILIATION.name
    ]
    assert reconciliation.passed, reconciliation.description
    assert reconciliation.description.startswith("bronze 7 = "), reconciliation.description
