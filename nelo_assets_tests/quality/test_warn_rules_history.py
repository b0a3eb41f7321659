"""The WARN checks over a week of the demo's simulated traffic: quiet on every ordinary day, and
each fires on the day of the fault it is designed to catch (docs/checks.md, What each WARN rule catches).

The week is the demo's history (its events per day, the simulator's own faults, duplicates and
late uploads), built by the plain pipeline. The designed faults are app incidents written into
bronze of their day, as an app build would have sent them; the pipeline then rebuilds silver to
the marts, and the check bodies run on every day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from nelo_assets.defs.checking import WARN
from nelo_assets.defs.marts.checks import ITEM_LIST, LIST_POSITION, PRODUCT, mart_day_results
from nelo_assets.defs.resources import ChecksResource, LakeResource
from nelo_assets.defs.silver.checks import silver_day_results
from nelo_assets.service.demo import DemoOptions
from nelo_assets.simulation.cli import SimulationConfig, write_archive
from nelo_assets.storage.lake import Lake
from nelo_assets.transform.pipeline import build_everything, build_partitions
from nelo_assets_tests.environment import settings_for

pytestmark = pytest.mark.slow

WEEK = [date(2026, 3, 2) + timedelta(days=n) for n in range(7)]
DAY_MS = 86_400_000


def _rewrite(lake: Lake, day: date, select: str) -> None:
    """Replace bronze of `day` with `select` over its rows (view `bronze`)."""
    con = duckdb.connect()
    files = [str(f) for f in lake.partition_files("bronze_events", day)]
    con.execute(f"create table bronze as select * from read_parquet({files!r})")
    con.execute(f"create table edited as {select}")
    for f in files:
        Path(f).unlink()
    target = lake.partition_dir("bronze_events", day) / "incident.parquet"
    con.execute(f"copy edited to '{target}' (format parquet)")
    con.close()


def _share(percent: int) -> str:
    """Rows picked reproducibly, about `percent` in a hundred."""
    return f"hash(message_id || batch_index) % 100 < {percent}"


def _drop_field(lake: Lake, day: date, name: str, percent: int) -> None:
    """About `percent` in a hundred of the day's events arrive without the text field `name`."""
    pattern = rf'"{name}":"[^"]*",'
    _rewrite(
        lake,
        day,
        "select * replace (case when "
        + _share(percent)
        + f" then regexp_replace(raw, '{pattern}', '') else raw end as raw) from bronze",
    )


def user_id_dropped(lake: Lake, day: date) -> None:
    """An app build sends a sixth of its events without user_id: silver quarantines them."""
    _drop_field(lake, day, "user_id", 16)


def platform_dropped(lake: Lake, day: date) -> None:
    """An app build stops sending platform: a third of the day's events arrive without it."""
    _drop_field(lake, day, "platform", 33)


def misspelt_name(lake: Lake, day: date) -> None:
    """A release logs some screen views under a misspelt name."""
    _rewrite(
        lake,
        day,
        "select * replace (case when "
        + _share(5)
        + " then replace(raw, '\"screen_view\"', '\"screen_veiw\"') else raw end as raw) "
        "from bronze",
    )


def view_events_stopped(lake: Lake, day: date) -> None:
    """An app build stops sending list and product views: the rates' denominators collapse."""
    views = 'regexp_matches(raw, \'"event_name":"(view_item_list|view_item)"\')'
    _rewrite(lake, day, f"select * from bronze where not ({views} and {_share(99)})")


def copies_two_days_later(lake: Lake, day: date) -> None:
    """An app resends three events with the device clock two days ahead: the same event_id,
    kept in two partitions."""
    ms = r'"event_timestamp":(\d{13})'
    later = day + timedelta(days=2)
    con = duckdb.connect()
    files = [str(f) for f in lake.partition_files("bronze_events", day)]
    con.execute(f"create table bronze as select * from read_parquet({files!r})")
    target = lake.partition_dir("bronze_events", later) / "copies.parquet"
    con.execute(f"""
        copy (
            select * replace (
                'copy-' || message_id as message_id,
                regexp_replace(raw, '{ms}', '"event_timestamp":'
                    || (regexp_extract(raw, '{ms}', 1)::bigint + {2 * DAY_MS})) as raw,
                event_date + 2 as event_date,
                event_timestamp + interval 2 day as event_timestamp
            )
            from bronze where regexp_matches(raw, '{ms}') order by message_id limit 3
        ) to '{target}' (format parquet)
    """)
    con.close()


Fault = Callable[[Lake, date], None]
# (day index, fault, the WARN checks it must fire on which day indexes)
DESIGNED_FAULTS: list[tuple[int, Fault, dict[str, set[int]]]] = [
    (1, user_id_dropped, {"silver_events_quarantine_rate": {1}}),
    (2, platform_dropped, {"silver_events_unknown_platform_share": {2}}),
    (3, misspelt_name, {"silver_events_unknown_event_names": {3}}),
    (4, copies_two_days_later, {"silver_events_cross_partition_duplicates": {4, 6}}),
    (
        5,
        view_events_stopped,
        {
            "mart_item_list_daily_rates": {5},
            "mart_product_daily_rates": {5},
            "mart_list_position_daily_rates": {5},
        },
    ),
]


def _warn_failures(lake_resource: LakeResource) -> set[tuple[str, date]]:
    failures = set()
    for day in WEEK:
        results = list(silver_day_results(lake_resource, ChecksResource(), day))
        for mart in (ITEM_LIST, PRODUCT, LIST_POSITION):
            results += mart_day_results(lake_resource, mart, day)
        failures |= {(r.check_name, day) for r in results if r.severity == WARN and not r.passed}
    return failures


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, LakeResource]:
    root = tmp_path_factory.mktemp("warn_week")
    settings = settings_for(root)
    lake = Lake(settings.data_dir)
    config = SimulationConfig(
        start=WEEK[0],
        days=len(WEEK),
        events_per_day=DemoOptions.history_events_per_day,
        timezone=settings.timezone,
    )
    write_archive(config, lake.landing_dir)
    build_everything(lake, settings, WEEK)
    return lake, LakeResource.from_settings(settings)


def test_no_warn_check_fires_on_an_ordinary_day(week: tuple[Lake, LakeResource]) -> None:
    _lake, resource = week
    assert _warn_failures(resource) == set()


def test_each_designed_fault_fires_its_rule_on_its_day_only(
    week: tuple[Lake, LakeResource],
) -> None:
    lake, resource = week
    expected = set()
    for index, fault, fires in DESIGNED_FAULTS:
        fault(lake, WEEK[index])
        expected |= {(check, WEEK[n]) for check, days in fires.items() for n in days}
    build_partitions(lake, settings_for(lake.root), WEEK)
    assert _warn_failures(resource) == expected
