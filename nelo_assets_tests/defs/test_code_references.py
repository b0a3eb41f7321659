"""Every asset with a SQL model links to it in the Dagster UI, and the file is there."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import CodeReferencesMetadataValue, LocalFileCodeReference

from nelo_assets.definitions import defs
from nelo_assets.storage.tables import TABLES


def _linked_files(metadata: Mapping[str, Any]) -> set[Path]:
    references = metadata.get("dagster/code_references")
    if references is None:
        return set()
    assert isinstance(references, CodeReferencesMetadataValue)
    return {
        Path(reference.file_path)
        for reference in references.code_references
        if isinstance(reference, LocalFileCodeReference)
    }


def test_each_asset_with_a_sql_model_links_to_its_existing_file() -> None:
    linked: set[Path] = set()
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        files = _linked_files(spec.metadata)
        if name in TABLES:
            assert TABLES[name].sql_path in files, name
        assert all(path.is_file() for path in files), (name, files)
        linked |= files
    # Tables stored under another asset's name (mart_product_daily_metrics) are linked too.
    assert linked == {table.sql_path for table in TABLES.values()}
