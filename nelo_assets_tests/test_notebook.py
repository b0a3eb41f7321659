"""The analytics notebook runs end to end on a machine with no pipeline data, and shows its results."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nelo_assets_tests.environment import REPO

NOTEBOOK = REPO / "notebooks" / "analytics.ipynb"


def test_notebook_builds_its_data_and_answers_both_questions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty data dir: the notebook must simulate its own history (it "runs anywhere").
    monkeypatch.setenv("NELO_DATA_DIR", str(tmp_path / "empty"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(REPO)}}
    ).execute()  # raises CellExecutionError on the first failing cell

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    charts = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(charts) >= 4, "list charts, daily trend, user funnel and product charts"
    tables = [out["data"]["text/html"] for out in outputs if "text/html" in out.get("data", {})]
    assert any("item_list_name" in html and "click_through_rate" in html for html in tables)
    assert any("purchase_to_view_rate" in html and "item_revenue" in html for html in tables)
    assert any("viewed_users" in html and "attributed_checkout_items" in html for html in tables)
    printed = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "nelo-notebook-" in printed, "it simulated its own data in a temporary folder"
    assert "Item counts are not a funnel" in printed, "why checkouts can exceed add-to-carts"
    for conclusion in (
        "Most viewed list:",
        "Most attributed revenue:",
        "Most viewers who went on to buy:",
        "Top product by revenue:",
    ):
        assert conclusion in printed
