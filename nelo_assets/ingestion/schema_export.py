"""Writes the JSON Schema of the event contract: `python -m nelo_assets.ingestion.schema_export [path]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nelo_assets.contract import event_json_schema
from nelo_assets.storage.lake import write_generated

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "event-schema.json"


def render() -> str:
    return json.dumps(event_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_generated(render, DEFAULT_PATH, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
