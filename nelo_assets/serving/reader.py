"""Opening analytics.duckdb to read it, wherever the lake's files are.

The views of analytics.duckdb read the lake's Parquet files by path: local paths, or s3:// URLs
when the lake is on S3 (NELO_LAKE_URL). This DuckDB has no httpfs extension offline, so a reader
hands it pyarrow's S3 filesystem (AWS credential chain, AWS_ENDPOINT_URL_S3) before querying.
The file names its own lake (nelo_meta), so a reader needs only the file and AWS credentials:

    from nelo_assets.serving.reader import connect_analytics
    con = connect_analytics("data/analytics.duckdb")
    con.sql("select * from mart_item_list_daily limit 5")

docs/deploy.md has the plain-DuckDB setup (httpfs and an S3 secret) for tools outside Python.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from nelo_assets.storage.objects import ObjectPath, register_filesystem

LAKE_URL_KEY = "lake_url"


def connect_analytics(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to analytics.duckdb that can read every table it publishes."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        lake_url = published_lake_url(con)
        if lake_url:
            register_filesystem(con, ObjectPath.from_url(lake_url))
    except BaseException:
        con.close()
        raise
    return con


def published_lake_url(con: duckdb.DuckDBPyConnection) -> str | None:
    """The object-store URL the views read from, or None for a local lake (or an older file)."""
    try:
        # fetchall, not fetchone: an unfinished result would block the caller's next con.sql().
        rows = con.execute("select value from nelo_meta where key = ?", [LAKE_URL_KEY]).fetchall()
    except duckdb.CatalogException:
        return None
    return rows[0][0] if rows else None
