"""Writes docs/tables.md from the table registry: `python -m nelo_assets.storage.tables_doc [path]`.

The page analysts read is generated, so a column cannot be added, renamed or retyped without it
changing too (a test fails while the committed page is stale).
"""

from __future__ import annotations

import sys

from nelo_assets.contract import DEFAULT_CURRENCY
from nelo_assets.storage.lake import write_generated
from nelo_assets.storage.tables import MONEY, SQL_DIR, TABLES, Table

REPO = SQL_DIR.parent
DEFAULT_PATH = REPO / "docs" / "tables.md"

INTRO = f"""\
# Published tables

<!-- Generated from nelo_assets/storage/tables.py by `make docs`: edit the registry, not this
page. -->

What the pipeline publishes, table by table and column by column. Every table and view below
answers by name in `$NELO_DATA_DIR/analytics.duckdb` (default `data/analytics.duckdb`), opened
read-only from any directory; a table with no data yet answers zero rows. The events they are
built from: [events.md](events.md).

## Conventions

- A daily table has an `event_date` column: the calendar date of the event in `NELO_TIMEZONE`,
  and its partition (events.md, Event date and partitions). Timestamps are in UTC.
- Money is `{MONEY}` in the event currency ({DEFAULT_CURRENCY}).
- Counts, and sums over nothing, are 0.
- Rates are `DOUBLE`, NULL when the denominator is 0. A rate can exceed 1 (quantities above 1,
  or a click whose list view was the day before); the check `mart_item_list_daily_rates`
  reports how often.
"""


def _kind(table: Table) -> str:
    if table.folder is None:
        return "view"
    return "daily partitions" if table.partitioned else "one table"


def _summary(table: Table) -> str:
    """The description's first sentence."""
    return table.description.split(". ")[0].split("\n")[0].rstrip(".") + "."


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _overview() -> str:
    rows = [
        f"| [`{t.name}`](#{t.name}) | {_kind(t)} | {_cell(_summary(t))} |" for t in TABLES.values()
    ]
    return "\n".join(["## Overview", "", "| table | kind | a row |", "|---|---|---|", *rows])


def _section(table: Table) -> str:
    sql = table.sql_path.relative_to(REPO)
    where = (
        f"Stored in `$NELO_DATA_DIR/{table.folder}/`"
        + (", one folder per `event_date`" if table.partitioned else "")
        if table.folder
        else "A view: no files of its own"
    )
    columns = [f"| `{c.name}` | `{c.type}` | {_cell(c.description)} |" for c in table.columns]
    return "\n".join(
        [
            f"## {table.name}",
            "",
            table.description,
            "",
            f"{where}. SQL: [`{sql}`](../{sql}).",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
            *columns,
        ]
    )


def render() -> str:
    return "\n\n".join([INTRO.rstrip("\n"), _overview(), *map(_section, TABLES.values())]) + "\n"


def main(argv: list[str] | None = None) -> int:
    return write_generated(render, DEFAULT_PATH, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
