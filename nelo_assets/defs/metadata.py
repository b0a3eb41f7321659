"""Metadata that documents a table in the Dagster UI: row count, column schema, preview."""

from __future__ import annotations

from typing import Any

import duckdb
from dagster import MetadataValue, TableColumn, TableSchema

from nelo_assets.storage.tables import TABLE_SCHEMAS

PREVIEW_ROWS = 10


def table_schema(table: str) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=c.name, type=c.type, description=c.description)
            for c in TABLE_SCHEMAS[table]
        ]
    )


def table_metadata(table: str, row_count: int, **extra: Any) -> dict[str, Any]:
    return {
        "dagster/row_count": row_count,
        "dagster/column_schema": table_schema(table),
        **extra,
    }


def markdown_preview(
    con: duckdb.DuckDBPyConnection, query: str, params: list | None = None
) -> MetadataValue:
    """The first rows of `query` as a markdown table."""
    result = con.execute(f"select * from ({query}) limit {PREVIEW_ROWS}", params or [])
    header = [d[0] for d in result.description]
    rows = result.fetchall()
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return MetadataValue.md("\n".join(lines))
