"""The UI lists each asset's columns with their type and meaning before anything has run: the
column schema of its definition, from the table registry that docs/tables.md is made from."""

from __future__ import annotations

from dagster import TableSchema

from nelo_assets.definitions import defs
from nelo_assets.storage.tables import TABLES


def test_every_asset_shows_its_tables_columns_with_their_meaning() -> None:
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for name, spec in specs.items():
        schema = spec.metadata.get("dagster/column_schema")
        assert isinstance(schema, TableSchema), name
        shown = [(c.name, c.type, c.description) for c in schema.columns]
        assert shown == [(c.name, c.type, c.description) for c in TABLES[name].columns], name
        assert all(description for _, _, description in shown), name
