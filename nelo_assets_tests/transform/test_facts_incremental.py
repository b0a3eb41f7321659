"""R4 and R3 for the gold facts: partitions rebuilt wave by wave as late events arrive end equal to
one build from all the data, and a re-run of any partition rewrites the same rows (R3: order
aside; the facts are not sorted, see docs/decisions.md section 11). The full build
is also checked against plain-Python readings of the session and attribution rules."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nelo_assets.storage.lake import Lake
from nelo_assets.transform.business_rules import ATTRIBUTION_LOOKBACK_DAYS, SESSION_LOOKBACK_DAYS
from nelo_assets.transform.facts import build_fact_event_items, build_fact_events
from nelo_assets_tests.environment import local, settings_for
from nelo_assets_tests.rows import read_rows
from nelo_assets_tests.transform.facts_input import silver_event, silver_item, write_silver

FIRST_DAY = date(2026, 3, 1)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(4)]
TABLES = ("fact_events", "fact_event_items")
# Each user's events follow one another by these gaps (s): around the 30-minute rule, the same
# instant, and hours that carry sessions and clicks across midnight.
GAPS = [0, 1, 1799, 1800, 1801, 3 * 3600, 20 * 3600]

events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2"]),
        st.sampled_from(GAPS),
        st.sampled_from(["select_item", "add_to_cart", "purchase", "view_item"]),
        st.lists(
            st.tuples(st.sampled_from(["A", "B"]), st.sampled_from([None, "L1", "L2"])),
            max_size=2,
        ),
        st.integers(0, 2),  # arrival wave
    ),
    min_size=8,
    max_size=16,
)


def make_events(spec: list[tuple]) -> list[tuple[int, dict[str, Any]]]:
    made = []
    clock = {"u1": local(DAYS[0], 22), "u2": local(DAYS[0], 23, 45)}
    for n, (user, gap, name, items, wave) in enumerate(spec):
        clock[user] += timedelta(seconds=gap)
        if clock[user].date() > DAYS[-1]:
            break  # past the simulated days
        received = datetime(2026, 4, 1, tzinfo=UTC) + timedelta(hours=wave)
        its = [silver_item(item_id, list_name) for item_id, list_name in items]
        made.append(
            (
                wave,
                silver_event(f"e{n:02d}", user, clock[user], name, items=its, received_at=received),
            )
        )
    return made


def session_starts(events: list[dict[str, Any]], day: date) -> dict[str, str]:
    """For each event of `day`, the event that starts its session within day-1 .. day."""
    window = [ev for ev in events if 0 <= (day - ev["event_date"]).days <= SESSION_LOOKBACK_DAYS]
    starts: dict[str, str] = {}
    last: dict[str, tuple[datetime, str]] = {}
    for ev in sorted(window, key=lambda ev: (ev["event_timestamp"], ev["event_id"])):
        previous = last.get(ev["user_id"])
        gap = None if previous is None else ev["event_timestamp"] - previous[0]
        start = ev["event_id"] if gap is None or gap > timedelta(seconds=1800) else previous[1]
        last[ev["user_id"]] = (ev["event_timestamp"], start)
        if ev["event_date"] == day:
            starts[ev["event_id"]] = start
    return starts


def expected_attribution(events: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """attributed_item_list_name and attribution_source of every item row, by docs/tables.md."""
    clicks: dict[tuple[str, str], list[tuple[datetime, str, int, str]]] = defaultdict(list)
    for ev in events:
        for index, it in enumerate(ev["items"]):
            if ev["event_name"] == "select_item" and it["item_list_name"]:
                key = (ev["user_id"], it["item_id"])
                clicks[key].append(
                    (ev["event_timestamp"], ev["event_id"], index, it["item_list_name"])
                )
    expected = {}
    for ev in events:
        for index, it in enumerate(ev["items"]):
            found = None
            if it["item_list_name"]:
                found = (it["item_list_name"], "explicit")
            elif ev["event_name"] in ("add_to_cart", "begin_checkout", "purchase"):
                at = ev["event_timestamp"]
                candidates = [
                    c
                    for c in clicks[(ev["user_id"], it["item_id"])]
                    if at - timedelta(hours=168) <= c[0] <= at
                ]
                found = (max(candidates)[3], "last_click") if candidates else None
            expected[f"{ev['event_id']}:{index}"] = found or ("(not set)", "none")
    return expected


def within(days: set[date]) -> list[date]:
    return sorted(d for d in days if DAYS[0] <= d <= DAYS[-1])


def build(lake: Lake, table_days: dict[str, list[date]]) -> None:
    config = settings_for(lake.root)
    for day in table_days["fact_events"]:
        build_fact_events(lake, config, day)
    for day in table_days["fact_event_items"]:
        build_fact_event_items(lake, config, day)


def snapshot(lake: Lake) -> dict[tuple[str, date], list[str]]:
    """Every fact partition's rows, in a fixed order: equal snapshots hold the same rows."""
    return {
        (table, day): sorted(map(str, rows(lake, table, day)))
        for table in TABLES
        for day in DAYS
        if lake.partition_file(table, day).exists()
    }


def rows(lake: Lake, table: str, day: date) -> list[dict[str, Any]]:
    path = lake.partition_file(table, day)
    return read_rows(path) if path.exists() else []


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=events_strategy, rerun_day=st.sampled_from(DAYS))
def test_wave_by_wave_equals_one_build_and_reruns_change_nothing(
    spec: list[tuple], rerun_day: date
) -> None:
    made = make_events(spec)
    with tempfile.TemporaryDirectory() as tmp:
        incremental, full = Lake(Path(tmp) / "incremental"), Lake(Path(tmp) / "full")

        arrived: list[dict[str, Any]] = []
        for wave in sorted({w for w, _ in made}):
            new = [ev for w, ev in made if w == wave]
            arrived += new
            changed = {ev["event_date"] for ev in new}
            write_silver(incremental, [ev for ev in arrived if ev["event_date"] in changed])
            # a changed day and the days that read it through their lookback
            sessions = {
                c + timedelta(days=k) for c in changed for k in range(SESSION_LOOKBACK_DAYS + 1)
            }
            attribution = {
                c + timedelta(days=k) for c in changed for k in range(ATTRIBUTION_LOOKBACK_DAYS + 1)
            }
            build(
                incremental,
                {
                    "fact_events": within(sessions),
                    "fact_event_items": within(attribution | sessions),
                },
            )

        write_silver(full, [ev for _, ev in made])
        build(full, {table: DAYS for table in TABLES})

        events = [ev for _, ev in made]
        # session ids are a function of the session's first event (as seen from each day)
        pairs = {
            (starts[r["event_id"]], r["session_id"])
            for day in DAYS
            for starts in [session_starts(events, day)]
            for r in rows(full, "fact_events", day)
        }
        assert len({start for start, _ in pairs}) == len({sid for _, sid in pairs}) == len(pairs)
        attributed = {
            r["event_item_id"]: (r["attributed_item_list_name"], r["attribution_source"])
            for day in DAYS
            for r in rows(full, "fact_event_items", day)
        }
        assert attributed == expected_attribution(events)

        # the same rows, whatever the order of the builds
        for table in TABLES:
            for day in DAYS:
                assert sorted(map(str, rows(incremental, table, day))) == sorted(
                    map(str, rows(full, table, day))
                ), (table, day)
        built = snapshot(full)

        build(full, {table: [rerun_day] for table in TABLES})
        assert snapshot(full) == built
