"""Reading the lake on S3 with few requests: a build opens a file once (one HEAD) and reads it in
whole blocks (one GET each), however many ranges and scans DuckDB makes of it; small files go up
in one PUT; and the rows read are the rows written. Requests are counted by bench's latency
proxy in front of the test's moto server, S3's 25 ms latency included."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.latency_proxy import DEFAULT_DELAY_MS, endpoint, latency_proxy
from nelo_assets.storage import objects
from nelo_assets.storage.lake import Lake
from nelo_assets.storage.objects import ObjectPath
from nelo_assets.storage.sql_models import bind_parquet, connect, write_parquet

ROWS = 60_000
ROWS_SQL = """
    select 'k' || i as user_sk, 'u' || i as user_id, null as first_seen_at,
        null as last_seen_at, null as first_platform, null as last_platform,
        i % 7 as total_sessions, i as total_events, 0 as total_purchases, 0 as total_revenue
    from range({rows}) t(i)
"""
# Small blocks, so one file of the test spans several.
BLOCK_BYTES = 32 * 1024
# Scans of the same file in one query: DuckDB opens and reads it once for each.
QUERY = """
    select count(*), sum(total_events), (select count(*) from t where total_sessions = 3)
    from t
"""


@pytest.fixture
def proxied_lake(s3_lake_url: str, moto_endpoint: str, tmp_path: Path) -> Iterator[tuple]:
    """The test's S3 lake reached through the latency proxy (S3's 25 ms a request)."""
    with latency_proxy(moto_endpoint, DEFAULT_DELAY_MS) as proxy:
        saved = os.environ["AWS_ENDPOINT_URL_S3"]
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint(proxy)
        try:
            yield Lake(ObjectPath.from_url(s3_lake_url), tmp_path), proxy
        finally:
            os.environ["AWS_ENDPOINT_URL_S3"] = saved


def _kinds(requests: list) -> Counter[str]:
    return Counter(
        "list"
        if "list-type" in r.target
        else f"{r.method} {r.target.partition('?')[2] or 'object'}"
        for r in requests
    )


def test_a_build_reads_each_file_once_in_whole_blocks(
    proxied_lake: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(objects, "BLOCK_BYTES", BLOCK_BYTES)
    lake, proxy = proxied_lake
    path = lake.table_file("dim_users")
    with connect() as con:
        written = write_parquet(con, "dim_users", ROWS_SQL.format(rows=ROWS), path)
    assert written == ROWS
    assert _kinds(proxy.requests) == {"PUT object": 1}  # not a three-request multipart upload
    size = path.filesystem.get_file_info(path.key).size
    assert size > 3 * BLOCK_BYTES

    before = len(proxy.requests)
    with connect() as con:
        bind_parquet(con, "t", "dim_users", [path])
        rows = con.execute(QUERY).fetchall()
    on_s3 = _kinds(proxy.requests[before:])

    local = tmp_path / "local.parquet"
    with connect() as con:
        write_parquet(con, "dim_users", ROWS_SQL.format(rows=ROWS), local)
        bind_parquet(con, "t", "dim_users", [local])
        assert rows == con.execute(QUERY).fetchall()
    assert on_s3["list"] == 1  # the folder, once
    assert on_s3["HEAD object"] == 1  # one open for every scan
    assert on_s3["GET object"] <= math.ceil(size / BLOCK_BYTES)  # no block fetched twice
    assert set(on_s3) == {"list", "HEAD object", "GET object"}


def test_a_build_lists_the_folders_of_its_lookback_at_once(proxied_lake: tuple) -> None:
    lake, proxy = proxied_lake
    days = [f"2026-03-{day:02d}" for day in range(1, 9)]
    with connect() as con:
        for day in days[::2]:
            write_parquet(
                con, "dim_users", ROWS_SQL.format(rows=10), lake.partition_file("fact_events", day)
            )
    before = len(proxy.requests)
    with connect() as con:
        bound = bind_parquet(
            con, "t", "dim_users", [lake.partition_file("fact_events", day) for day in days]
        )
    listings = [r for r in proxy.requests[before:] if "list-type" in r.target]
    assert bound == len(days[::2])
    assert len(listings) == len(days)
    # Listed at once: all within one request's delay of the first, not one delay after another.
    assert max(r.at for r in listings) - min(r.at for r in listings) < DEFAULT_DELAY_MS / 1e3
