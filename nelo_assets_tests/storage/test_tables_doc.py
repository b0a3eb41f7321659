"""docs/tables.md: generated from the table registry, complete, and never stale."""

from __future__ import annotations

import re
from pathlib import Path

from nelo_assets.storage import tables_doc
from nelo_assets.storage.tables import TABLES


def _sections(page: str) -> dict[str, str]:
    """Each `## heading` of the page and the text under it."""
    parts = re.split(r"^## (.+)$", page, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_committed_page_is_the_registry() -> None:
    committed = tables_doc.DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == tables_doc.render(), "docs/tables.md is stale: run `make docs`"


def test_every_table_has_a_section_listing_each_column_with_type_and_meaning() -> None:
    sections = _sections(tables_doc.render())
    for table in TABLES.values():
        assert table.description.strip(), table.name
        rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \| (.+) \|$", sections[table.name], re.M)
        assert [(name, type_) for name, type_, _ in rows] == [
            (c.name, c.type) for c in table.columns
        ], table.name
        assert all(meaning.strip() for _, _, meaning in rows), table.name


def test_a_pipe_in_a_meaning_does_not_break_the_table() -> None:
    # silver_items.item_record_id is event_id || ':' || item_index.
    rows = [line for line in tables_doc.render().splitlines() if "`item_record_id`" in line]
    assert rows and all(line.count("|") - line.count("\\|") == 4 for line in rows)


def test_main_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "tables.md"
    assert tables_doc.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == tables_doc.render()
