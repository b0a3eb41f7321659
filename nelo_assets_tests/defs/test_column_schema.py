"""The UI lists each asset's columns with their type and meaning before anything has run (the
column schema of its definition) and after (that of its last run), from the table registry that
docs/tables.md is made from."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from dagster import DagsterInstance, TableSchema, materialize

from nelo_assets.definitions import defs
from nelo_assets.defs.marts.assets import mart_product_daily
from nelo_assets.storage.tables import MART_PRODUCT_DAILY, TABLES
from nelo_assets_tests.clean_day import check_lake_resource


def test_every_asset_shows_its_tables_columns_with_their_meaning() -> None:
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for name, spec in specs.items():
        schema = spec.metadata.get("dagster/column_schema")
        assert isinstance(schema, TableSchema), name
        shown = [(c.name, c.type, c.description) for c in schema.columns]
        assert shown == [(c.name, c.type, c.description) for c in TABLES[name].columns], name
        assert all(description for _, _, description in shown), name


def test_a_run_records_the_columns_of_the_table_published_under_the_assets_name(
    tmp_path: Path,
) -> None:
    # mart_product_daily stores mart_product_daily_metrics; readers query the view with names.
    result = materialize(
        [mart_product_daily],
        partition_key=(date.today() - timedelta(days=3)).isoformat(),
        resources={"lake": check_lake_resource(tmp_path)},
        instance=DagsterInstance.ephemeral(),
    )
    (materialization,) = result.asset_materializations_for_node("mart_product_daily")
    schema = materialization.metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns] == [c.name for c in MART_PRODUCT_DAILY]
