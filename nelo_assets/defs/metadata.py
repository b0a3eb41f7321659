"""Metadata that documents a table in the Dagster UI: row count, column schema, preview, and the
link to its SQL model."""

from __future__ import annotations

from typing import Any

import duckdb
from dagster import (
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MetadataValue,
    TableColumn,
    TableSchema,
)

from nelo_assets.storage.tables import SQL_DIR, TABLES

PREVIEW_ROWS = 10


def table_schema(table: str) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=c.name, type=c.type, description=c.description)
            for c in TABLES[table].columns
        ]
    )


def code_references(*tables: str) -> CodeReferencesMetadataValue:
    """Links to the SQL models of `tables`, opened from the asset's page in the UI."""
    paths = [TABLES[table].sql_path for table in tables]
    return CodeReferencesMetadataValue(
        code_references=[
            LocalFileCodeReference(file_path=str(path), label=str(path.relative_to(SQL_DIR.parent)))
            for path in paths
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
