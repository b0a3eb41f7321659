"""Metadata that documents a table in the Dagster UI: row count, column schema, preview, and the
link to its SQL model."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
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


def days_metadata(
    table: str,
    rows_by_day: Mapping[date, int],
    counts: Mapping[str, Mapping[date, int]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """table_metadata for a run over one day or a range: the rows and other `counts` summed over
    the days, and for a range each day's rows too, since Dagster records a range run's metadata
    on every day of it (docs/decisions.md §16)."""
    sums = {name: sum(by_day.values()) for name, by_day in (counts or {}).items()}
    metadata = table_metadata(table, sum(rows_by_day.values()), **sums, **extra)
    if len(rows_by_day) > 1:
        days = sorted(rows_by_day)
        metadata["partition_range"] = f"{days[0]}...{days[-1]}"
        metadata["rows_by_day"] = MetadataValue.json({d.isoformat(): rows_by_day[d] for d in days})
    return metadata


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
