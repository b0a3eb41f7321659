"""bench.s3's latency proxy: every request to moto waits the delay, concurrent requests wait
theirs side by side (as on S3), and what comes back is what moto answered."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import boto3

from bench.latency_proxy import endpoint, latency_proxy

DELAY_MS = 200
CONCURRENT = 6


def test_the_proxy_delays_every_request_without_serialising_them(s3_lake_url: str) -> None:
    bucket = s3_lake_url.removeprefix("s3://").split("/")[0]
    with latency_proxy(boto3.client("s3").meta.endpoint_url, DELAY_MS) as proxy:
        s3 = boto3.client("s3", endpoint_url=endpoint(proxy))
        s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 100_000)

        def head() -> float:
            started = time.perf_counter()
            assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 100_000
            return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            each = list(pool.map(lambda _: head(), range(CONCURRENT)))
        together = time.perf_counter() - started
        body = s3.get_object(Bucket=bucket, Key="k", Range="bytes=10-19")["Body"].read()

    assert min(each) >= DELAY_MS / 1e3
    assert together < 2 * DELAY_MS / 1e3  # side by side, not one after another
    assert body == b"x" * 10
    assert [r.method for r in proxy.requests] == ["PUT"] + ["HEAD"] * CONCURRENT + ["GET"]
