"""Asset checks on hand-made Parquet partitions: each check passes on a clean day and fails, naming
the culprit, once the data is broken on purpose; a blocking failure stops downstream work."""

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetMaterialization,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    Definitions,
    define_asset_job,
    evaluate_automation_conditions,
    materialize,
)

from nelo_assets.defs import checks as c
from nelo_assets.defs.gold.assets import fact_events
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource
from nelo_assets.defs.silver.assets import silver
from nelo_assets.quality import rules as check_rules
from nelo_assets.quality.thresholds import Thresholds
from nelo_assets.settings import SettingsError
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.sql_models import connect, write_parquet
from nelo_assets.storage.tables import TABLE_SCHEMAS

TIMEZONE = "America/Mexico_City"
# A recent partition inside the configured partition range, whatever NELO_START_DATE says.
D = date.fromisoformat(daily_partitions.get_last_partition_key()) - timedelta(days=10)
NOW = datetime.now(UTC)

_POLARS = {
    "VARCHAR": pl.String(),
    "JSON": pl.String(),
    "INTEGER": pl.Int64(),
    "BIGINT": pl.Int64(),
    "DOUBLE": pl.Float64(),
    "BOOLEAN": pl.Boolean(),
    "DATE": pl.Date(),
    "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
}


def write(path: Path, table: str, rows: list[dict[str, Any]]) -> None:
    """Write rows (missing columns NULL) as a Parquet file of `table`, cast to its schema."""
    columns = TABLE_SCHEMAS[table]
    schema = {col.name: _POLARS.get(col.type, pl.Float64()) for col in columns}
    frame = pl.DataFrame([{k: row.get(k) for k in schema} for row in rows], schema=schema)
    with connect() as con:
        con.register("frame", frame.to_arrow())
        write_parquet(con, table, "select * from frame", path)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """UTC time; hours 12..23 UTC are the same calendar day in Mexico City (UTC-6)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


@dataclass
class World:
    """One clean day D in every layer, consistent across layers; tests break one table."""

    lake: Lake
    resource: LakeResource
    tables: dict[str, list[dict[str, Any]]]

    def path(self, table: str, day: date = D) -> Path:
        if table == "silver_quarantine":
            return self.lake.silver_quarantine_file(day)
        if table == "bronze_events":
            return self.lake.partition_dir(table, day) / "batch-1.parquet"
        if table in ("dim_items", "dim_users"):
            return self.lake.table_dir(table) / "part.parquet"
        return self.lake.partition_file(table, day)

    def save(self, table: str, rows: list[dict[str, Any]] | None = None) -> None:
        if rows is not None:
            self.tables[table] = rows
        kind = "quarantine" if table == "silver_quarantine" else table
        write(self.path(table), kind, self.tables[table])

    def edit(self, table: str, key: str, value: str, **changes: Any) -> None:
        """Change the row whose `key` column equals `value`."""
        rows = [dict(r, **changes) if r[key] == value else r for r in self.tables[table]]
        self.save(table, rows)


def _bronze(message_id: str, event: dict[str, Any], ts: datetime) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "batch_index": 0,
        "received_at": NOW - timedelta(minutes=5),
        "receive_count": 1,
        "event_date": D,
        "raw": json.dumps(event),
        "event_timestamp": ts,
        "landing_batch": "batch-1",
    }


def clean_tables() -> dict[str, list[dict[str, Any]]]:
    t1, t2, t3, t4 = at(D, 13), at(D, 13, 10), at(D, 15), at(D, 16)
    events = [
        ("e1", "u1", t1, "screen_view", "m1"),
        ("e2", "u1", t2, "view_item_list", "m2"),
        ("e3", "u2", t3, "purchase", "m3"),
        ("e4", "u2", t4, "screen_view", "m4"),
    ]
    silver_events = [
        {
            "event_id": eid,
            "message_id": mid,
            "batch_index": 0,
            "received_at": NOW - timedelta(minutes=5),
            "event_timestamp": ts,
            "event_date": D,
            "user_id": uid,
            "event_name": name,
            "platform": "IOS",
            "currency": "MXN",
            "item_count": {"e2": 2, "e3": 1}.get(eid, 0),
        }
        for eid, uid, ts, name, mid in events
    ]
    bronze = [
        _bronze(e["message_id"], {"event_id": e["event_id"]}, e["event_timestamp"])
        for e in silver_events
    ]
    # m5 repeats e1 (an app retry with a new message id): removed as a duplicate.
    bronze.append(_bronze("m5", {"event_id": "e1"}, t1))
    bronze.append(_bronze("m6", {"event_name": "login"}, t1))  # quarantined: no user_id
    quarantine = [
        {
            "message_id": "m6",
            "received_at": NOW - timedelta(minutes=5),
            "batch_index": 0,
            "event_date": D,
            "reason": "missing_field",
            "detail": "user_id is absent",
            "raw": "{}",
            "stage": "silver",
        }
    ]
    items = [
        ("e2:0", "e2", 0, "sku-1", "home", 100.0, 1, t2, "u1", "view_item_list"),
        ("e2:1", "e2", 1, "sku-2", "home", 50.0, 1, t2, "u1", "view_item_list"),
        ("e3:0", "e3", 0, "sku-1", None, 100.0, 2, t3, "u2", "purchase"),
    ]
    silver_items = [
        {
            "item_record_id": rid,
            "event_id": eid,
            "event_date": D,
            "item_index": index,
            "item_id": sku,
            "item_name": f"name {sku}",
            "price": price,
            "quantity": qty,
            "discount": 0.0,
            "discount_amount": 0.0,
            "item_list_name": list_name,
        }
        for rid, eid, index, sku, list_name, price, qty, _, _, _ in items
    ]
    sessions = {"e1": "s1", "e2": "s1", "e3": "s2", "e4": "s3"}
    fact_events = [
        {
            "event_id": e["event_id"],
            "user_id": e["user_id"],
            "session_id": sessions[e["event_id"]],
            "event_name": e["event_name"],
            "event_timestamp": e["event_timestamp"],
            "event_date": D,
            "event_hour": 7,
            "platform": "IOS",
            "currency": "MXN",
            "processed_at": NOW,
        }
        for e in silver_events
    ]
    fact_items = [
        {
            "event_item_id": rid,
            "event_id": eid,
            "event_date": D,
            "event_timestamp": ts,
            "user_id": uid,
            "session_id": sessions[eid],
            "event_name": name,
            "item_id": sku,
            "price": price,
            "quantity": qty,
            "total_price": price * qty,
            "discount_amount": 0.0,
            "has_discount": False,
            "item_list_name": list_name,
            "attributed_item_list_name": list_name or "home",
            "attribution_source": "explicit" if list_name else "last_click",
        }
        for rid, eid, _, sku, list_name, price, qty, ts, uid, name in items
    ]
    dim_items = [
        ("sk-1a", "sku-1", "old name", t2, t3, False),
        ("sk-1b", "sku-1", "name sku-1", t3, None, True),
        ("sk-2", "sku-2", "name sku-2", t2, None, True),
    ]
    return {
        "bronze_events": bronze,
        "silver_quarantine": quarantine,
        "silver_events": silver_events,
        "silver_items": silver_items,
        "fact_events": fact_events,
        "fact_event_items": fact_items,
        "dim_items": [
            {
                "item_sk": sk,
                "item_id": sku,
                "item_name": name,
                "valid_from": start,
                "valid_to": end,
                "is_current": current,
                "last_price": 100.0,
            }
            for sk, sku, name, start, end, current in dim_items
        ],
        "dim_users": [
            {"user_sk": f"sk-{u}", "user_id": u, "total_revenue": revenue}
            for u, revenue in (("u1", 0.0), ("u2", 200.0))
        ],
        "mart_item_list_daily": [
            {"event_date": D, "item_list_name": "home", "click_through_rate": 0.5},
            {"event_date": D, "item_list_name": "(not set)", "attributed_revenue": 0.0},
        ],
        "mart_product_daily_metrics": [
            {"event_date": D, "item_id": "sku-1", "click_through_rate": 1.0, "item_revenue": 200.0},
            {"event_date": D, "item_id": "sku-2", "click_through_rate": 0.0},
        ],
    }


def world_at(root: Path) -> World:
    resource = LakeResource(data_dir=str(root), timezone=TIMEZONE, start_date="2020-01-01")
    return World(Lake(root), resource, clean_tables())


def write_clean_day(root: Path) -> Path:
    template = world_at(root)
    for table in template.tables:
        template.save(table)
    return root


def copy_clean_day(template: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A fresh copy of the clean day (copying is cheaper than writing Parquet again)."""
    # One quarantined row in six stays below this limit; the flood test goes far above it.
    monkeypatch.setenv("NELO_MAX_QUARANTINE_RATE", "0.2")
    monkeypatch.setenv("NELO_FRESHNESS_HOURS", "6")
    shutil.copytree(template, root)
    return world_at(root)


@pytest.fixture(scope="module")
def clean_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clean_day(tmp_path_factory.mktemp("clean") / "data")


@pytest.fixture
def world(clean_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return copy_clean_day(clean_lake, tmp_path / "data", monkeypatch)


# Checks run on stand-ins for the assets: a check-only job never executes an asset.
STANDINS = [
    AssetSpec(key, partitions_def=daily_partitions)
    for key in (
        "bronze_events",
        "silver_events",
        "silver_items",
        "fact_events",
        "fact_event_items",
        "mart_item_list_daily",
        "mart_product_daily",
    )
] + [
    AssetSpec(key)
    for key in ("quarantine", "dim_items", "dim_users", "master_list_items_engagement")
]


# One instance for the many short check runs: creating one per run costs more than the run.
INSTANCE = DagsterInstance.ephemeral()


def run_checks(
    world: World,
    selected: list[AssetChecksDefinition],
    instance: DagsterInstance | None = None,
    partition: date | None = D,
) -> dict[str, AssetCheckEvaluation]:
    """Execute the selected checks for partition D in a real run; evaluations by check name."""
    job = define_asset_job("checks_only", selection=AssetSelection.checks(*selected))
    defs = Definitions(
        assets=STANDINS,
        asset_checks=c.all_asset_checks,
        jobs=[job],
        resources={"lake": world.resource},
    )
    # A check-only selection has no asset to validate a partition key against: tag the run.
    result = defs.resolve_job_def("checks_only").execute_in_process(
        instance=instance or DagsterInstance.ephemeral(),
        tags={"dagster/partition": partition.isoformat()} if partition else None,
        raise_on_error=False,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_clean_day_passes_every_check(world: World) -> None:
    evaluations = run_checks(world, c.all_asset_checks)
    assert set(evaluations) == set(c.CATALOG)
    failed = {name: e.description for name, e in evaluations.items() if not e.passed}
    assert failed == {}
    # the reconciliation counts are computed, not assumed: 6 bronze = 4 + 1 + 1 duplicate
    reconciliation = evaluations[c.SILVER_RECONCILIATION]
    assert reconciliation.description == "bronze 6 = silver 4 + quarantine 1 + duplicates 1"
    for name, evaluation in evaluations.items():
        info = c.CATALOG[name]
        assert evaluation.severity == info.severity
        assert bool(evaluation.blocking) == info.blocking
        assert evaluation.partition == (None if name in UNPARTITIONED else D.isoformat())


UNPARTITIONED = {
    c.BRONZE_FRESHNESS,
    c.QUARANTINE_CODES,
    *c.DIM_ITEMS_CHECKS,
    *c.DIM_USERS_CHECKS,
    c.ENGAGEMENT_RECONCILIATION,
}


def _dup_event(w: World) -> None:
    w.save("silver_events", [*w.tables["silver_events"], dict(w.tables["silver_events"][0])])


def _lose_silver_event(w: World) -> None:
    w.save("silver_events", [e for e in w.tables["silver_events"] if e["event_id"] != "e4"])


def _quarantine_flood(w: World) -> None:
    bad = [_bronze(f"q{n}", {"items": [{"price": -1}]}, at(D, 14)) for n in range(10)]
    w.save("bronze_events", [*w.tables["bronze_events"], *bad])
    rows = [
        {**w.tables["silver_quarantine"][0], "message_id": f"q{n}", "reason": "invalid_item"}
        for n in range(10)
    ]
    w.save("silver_quarantine", [*w.tables["silver_quarantine"], *rows])


def _disagreeing_copy(w: World) -> None:
    copy = {**w.tables["silver_events"][0], "event_date": D + timedelta(days=1)}
    write(w.lake.partition_file("silver_events", D + timedelta(days=1)), "silver_events", [copy])


def _orphan_item(w: World) -> None:
    orphan = {**w.tables["silver_items"][0], "item_record_id": "ghost:0", "event_id": "ghost"}
    w.save("silver_items", [*w.tables["silver_items"], orphan])


def _drop_fact_event(w: World) -> None:
    w.save("fact_events", [e for e in w.tables["fact_events"] if e["event_id"] != "e4"])


def _orphan_fact_item(w: World) -> None:
    w.edit("fact_event_items", "event_item_id", "e3:0", event_id="e9")


def _stale_bronze(w: World) -> None:
    rows = [{**r, "received_at": NOW - timedelta(hours=30)} for r in w.tables["bronze_events"]]
    w.save("bronze_events", rows)


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


def _unlisted_engagement(w: World) -> None:
    # the listed item row's event sits in another partition: the view's join loses it
    w.edit("fact_event_items", "event_item_id", "e2:1", event_id="e7")


Breakage = Callable[[World], None]
BREAKAGES: list[tuple[str, Breakage, AssetChecksDefinition, str, str]] = [
    ("bronze misrouted", _misrouted_bronze, c.bronze_events_checks, c.BRONZE_SCHEMA,
     f"'m2' has event_date {D}, local date of its event_timestamp {D + timedelta(days=2)}"),
    ("stale bronze", _stale_bronze, c.bronze_events_freshness, c.BRONZE_FRESHNESS,
     "h ago (limit 6 h)"),
    ("unknown reason", lambda w: w.edit("silver_quarantine", "message_id", "m6", reason="oops"),
     c.quarantine_checks, c.QUARANTINE_CODES, "reason = 'oops' (1 rows)"),
    ("duplicate event_id", _dup_event, c.silver_checks, c.SILVER_EVENTS_KEY,
     "'e1' appears 2 times"),
    ("bad platform", lambda w: w.edit("silver_events", "event_id", "e3", platform="BLACKBERRY"),
     c.silver_checks, c.SILVER_EVENTS_SCHEMA, "platform = 'BLACKBERRY'"),
    ("missing user", lambda w: w.edit("silver_events", "event_id", "e3", user_id=None),
     c.silver_checks, c.SILVER_EVENTS_SCHEMA, "'e3': user_id is NULL"),
    ("event lost", _lose_silver_event, c.silver_checks, c.SILVER_RECONCILIATION,
     "bronze m4#0 is in neither silver_events nor quarantine"),
    ("quarantine flood", _quarantine_flood, c.silver_checks, c.SILVER_QUARANTINE_RATE,
     "quarantine rate 68.8% (11 of 16 bronze rows)"),
    ("unknown name", lambda w: w.edit("silver_events", "event_id", "e4", event_name="purchse"),
     c.silver_checks, c.SILVER_UNKNOWN_EVENT_NAMES, "'purchse' (1 events)"),
    ("unknown platform", lambda w: w.edit("silver_events", "event_id", "e4", platform="UNKNOWN"),
     c.silver_checks, c.SILVER_UNKNOWN_PLATFORM, "UNKNOWN on 25.0% of events (1 of 4)"),
    ("copy in two dates", _disagreeing_copy, c.silver_checks,
     c.SILVER_CROSS_PARTITION_DUPLICATES, f"e1 also in {D + timedelta(days=1)}"),
    ("orphan item", _orphan_item, c.silver_checks, c.SILVER_ITEMS_ORPHANS,
     "'ghost:0' -> event_id 'ghost' not in silver_events"),
    ("negative price", lambda w: w.edit("silver_items", "item_record_id", "e3:0", price=-5.0),
     c.silver_checks, c.SILVER_ITEMS_MONEY, "'e3:0': price = -5.00"),
    ("fact lost", _drop_fact_event, c.fact_events_checks, c.FACT_EVENTS_RECONCILIATION,
     "'e4' in silver_events, missing from fact_events"),
    ("hidden gap", _hidden_gap, c.fact_events_checks, c.FACT_EVENTS_SESSIONS,
     "e1 and e2 are 2400 s apart but share session s1"),
    ("split visit", _split_visit, c.fact_events_checks, c.FACT_EVENTS_SESSIONS,
     "e3 and e4 are 600 s apart but in sessions s2 and s3"),
    ("bad attribution",
     lambda w: w.edit("fact_event_items", "event_item_id", "e3:0", attribution_source="first"),
     c.fact_event_items_checks, c.FACT_ITEMS_SCHEMA, "attribution_source = 'first'"),
    ("orphan fact item", _orphan_fact_item, c.fact_event_items_checks, c.FACT_ITEMS_ORPHANS,
     "'e3:0' -> event_id 'e9' not in fact_events"),
    ("negative total",
     lambda w: w.edit("fact_event_items", "event_item_id", "e2:0", total_price=-1.0),
     c.fact_event_items_checks, c.FACT_ITEMS_MONEY, "'e2:0': total_price = -1.00"),
    ("scd2 overlap", _scd2_overlap, c.dim_items_checks, c.DIM_ITEMS_SCD2,
     "version sk-1a of sku-1 valid_to"),
    ("scd2 two current", _scd2_two_current, c.dim_items_checks, c.DIM_ITEMS_SCD2,
     "item sku-1 has 2 current versions"),
    ("item missing from dim",
     lambda w: w.save("dim_items", [r for r in w.tables["dim_items"] if r["item_id"] != "sku-2"]),
     c.dim_items_checks, c.DIM_ITEMS_COVERAGE, "item_id 'sku-2' not in dim_items"),
    ("user missing from dim",
     lambda w: w.save("dim_users", [r for r in w.tables["dim_users"] if r["user_id"] != "u2"]),
     c.dim_users_checks, c.DIM_USERS_COVERAGE, "user_id 'u2' not in dim_users"),
    ("negative revenue", lambda w: w.edit("dim_users", "user_id", "u2", total_revenue=-3.0),
     c.dim_users_checks, c.DIM_USERS_MONEY, "'u2': total_revenue = -3.00"),
    ("mart grain", _duplicate_mart_row, c.mart_item_list_daily_checks, c.MART_LIST_GRAIN,
     f"'{D}' / 'home' appears 2 times"),
    ("rate above 1",
     lambda w: w.edit("mart_product_daily_metrics", "item_id", "sku-2", click_through_rate=1.5),
     c.mart_product_daily_checks, c.MART_PRODUCT_RATES, "'sku-2': click_through_rate = 1.5"),
    ("negative item revenue",
     lambda w: w.edit("mart_product_daily_metrics", "item_id", "sku-1", item_revenue=-2.0),
     c.mart_product_daily_checks, c.MART_PRODUCT_MONEY, "item_revenue = -2.00"),
    ("engagement loses a row", _unlisted_engagement, c.master_list_items_engagement_checks,
     c.ENGAGEMENT_RECONCILIATION, "'e2:1' in listed_items, missing from engagement"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("breakage", "checks_def", "name", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in BREAKAGES],
)
def test_broken_data_fails_the_check_and_names_the_culprit(
    world: World, breakage: Breakage, checks_def: AssetChecksDefinition, name: str, expected: str
) -> None:
    # test_clean_day_passes_every_check shows each of these passing on the unbroken day
    breakage(world)
    after = run_checks(
        world, [checks_def], INSTANCE, partition=None if name in UNPARTITIONED else D
    )
    evaluation = after[name]
    assert not evaluation.passed
    assert expected in evaluation.description
    assert evaluation.severity == c.CATALOG[name].severity
    # the other checks of the group are not dragged down by this one breakage
    others = {n for n, e in after.items() if not e.passed} - {name}
    assert others <= COLLATERAL.get(name, set())


# Breakages that legitimately trip a sibling check too.
COLLATERAL = {
    c.SILVER_RECONCILIATION: set(),
    c.SILVER_QUARANTINE_RATE: set(),
    c.SILVER_ITEMS_ORPHANS: set(),
    c.FACT_ITEMS_ORPHANS: set(),
    c.DIM_ITEMS_SCD2: set(),
    c.SILVER_EVENTS_KEY: {c.SILVER_RECONCILIATION},
}


def test_every_check_has_a_breakage_test_or_is_covered_below() -> None:
    broken = {case[3] for case in BREAKAGES}
    assert set(c.CATALOG) - broken == {
        c.SILVER_ITEMS_KEY,
        c.FACT_EVENTS_KEY,
        c.FACT_EVENTS_SCHEMA,
        c.FACT_ITEMS_KEY,
        c.FACT_ITEMS_RECONCILIATION,
        c.DIM_ITEMS_KEY,
        c.DIM_ITEMS_MONEY,
        c.DIM_USERS_KEY,
        c.MART_LIST_RATES,
        c.MART_LIST_MONEY,
        c.MART_PRODUCT_GRAIN,
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


def test_thresholds_come_from_the_environment() -> None:
    limits = Thresholds.from_env(
        {"NELO_MAX_QUARANTINE_RATE": "0.5", "NELO_KNOWN_EVENT_NAMES": "a, b"}
    )
    assert limits.max_quarantine_rate == 0.5
    assert {"a", "b", "purchase"} <= limits.known_event_names
    assert Thresholds.from_env({}) == Thresholds()
    with pytest.raises(SettingsError, match="NELO_MAX_QUARANTINE_RATE"):
        Thresholds.from_env({"NELO_MAX_QUARANTINE_RATE": "2"})


def test_freshness_check_runs_on_the_clock() -> None:
    """Freshness must fire when nothing is materialized (ingestion stopped): a cron condition."""
    defs = Definitions(
        assets=STANDINS,
        asset_checks=c.all_asset_checks,
        resources={"lake": LakeResource(data_dir=".", timezone=TIMEZONE, start_date="2020-01-01")},
    )
    instance = DagsterInstance.ephemeral()
    start = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    first = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=start)
    later = evaluate_automation_conditions(
        defs=defs,
        instance=instance,
        cursor=first.cursor,
        evaluation_time=start + timedelta(hours=1),
    )
    (freshness_key,) = c.bronze_events_freshness.check_keys
    assert first.total_requested == 0
    assert later.total_requested == 1
    requested = {r.key for r in later.results if r.true_subset.size}
    assert requested == {freshness_key}


def test_bronze_check_follows_ingest_reports() -> None:
    """Ingestion reports bronze partitions without executing the asset: the bronze check must
    be requested for exactly the partition reported."""
    defs = Definitions(
        assets=STANDINS,
        asset_checks=[c.bronze_events_checks],
        resources={"lake": LakeResource(data_dir=".", timezone=TIMEZONE, start_date="2020-01-01")},
    )
    instance = DagsterInstance.ephemeral()
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    instance.report_runless_asset_event(
        AssetMaterialization("bronze_events", partition=D.isoformat())
    )
    later = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    (key,) = c.bronze_events_checks.check_keys
    requested = {
        r.key: r.true_subset.expensively_compute_partition_keys()
        for r in later.results
        if r.true_subset.size
    }
    assert requested == {key: {D.isoformat()}}


def test_docs_table_lists_every_check() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "checks.md").read_text()
    catalogue = docs.split("## Catalogue")[1].split("\n## ")[0]
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in catalogue.splitlines()
        if line.startswith("| `")
    }
    assert set(rows) == set(c.CATALOG)
    for name, info in c.CATALOG.items():
        cells = [cell.strip() for cell in rows[name].split("|")]
        assert cells[2] == f"`{info.asset}`"
        assert info.severity.value in cells
        assert ("yes" if info.blocking else "no") in cells


def test_severity_is_meaningful() -> None:
    for info in c.CATALOG.values():
        if info.severity == AssetCheckSeverity.WARN:
            assert not info.blocking
    assert not c.CATALOG[c.FACT_EVENTS_SESSIONS].blocking
    assert all(c.CATALOG[n].blocking for n in (c.SILVER_EVENTS_KEY, c.SILVER_RECONCILIATION))


def _raw_bronze(message_id: str, event_id: str, ts: datetime) -> dict[str, Any]:
    event = {
        "event_id": event_id,
        "event_name": "screen_view",
        "event_timestamp": ts.isoformat(),
        "user_id": "u1",
        "platform": "ios",
    }
    return {**_bronze(message_id, event, ts), "event_date": D}


def test_blocking_failure_stops_downstream_until_the_data_is_fixed(tmp_path: Path) -> None:
    """A mis-routed bronze row flows into silver; the blocking silver check stops fact_events in
    the same run. With the row gone, the re-run goes through."""
    lake = Lake(tmp_path / "data")
    resource = LakeResource(data_dir=str(lake.root), timezone=TIMEZONE, start_date="2020-01-01")
    good = [_raw_bronze("m1", "e1", at(D, 13)), _raw_bronze("m2", "e2", at(D, 13, 5))]
    misrouted = _raw_bronze("m3", "e3", at(D + timedelta(days=3), 13))
    bronze_file = lake.partition_dir("bronze_events", D) / "batch-1.parquet"
    instance = DagsterInstance.ephemeral()

    def materialize_day() -> Any:
        return materialize(
            [silver, fact_events, c.silver_checks, c.fact_events_checks],
            partition_key=D.isoformat(),
            resources={"lake": resource},
            instance=instance,
            raise_on_error=False,
        )

    write(bronze_file, "bronze_events", [*good, misrouted])
    blocked = materialize_day()
    assert not blocked.success
    materialized = {
        e.asset_key.to_user_string() for e in blocked.get_asset_materialization_events()
    }
    assert "silver_events" in materialized
    assert "fact_events" not in materialized
    assert not lake.partition_file("fact_events", D).exists()
    schema = {e.check_name: e for e in blocked.get_asset_check_evaluations()}[
        c.SILVER_EVENTS_SCHEMA
    ]
    assert not schema.passed and "'e3' has event_date" in schema.description

    write(bronze_file, "bronze_events", good)
    fixed = materialize_day()
    assert fixed.success
    evaluations = fixed.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {*c.SILVER_CHECKS, *c.FACT_EVENTS_CHECKS}
    assert all(e.passed for e in evaluations), [e.description for e in evaluations if not e.passed]
    with connect() as con:
        ids = con.execute(
            "select event_id from read_parquet(?) order by 1",
            [str(lake.partition_file("fact_events", D))],
        ).fetchall()
    assert ids == [("e1",), ("e2",)]
