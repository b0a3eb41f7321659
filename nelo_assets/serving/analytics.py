"""The query surface: views in analytics.duckdb over the lake's Parquet files.

Views read globs, so new partitions show up without touching the file; the file is rewritten
only when a view definition changes (a schema change or a moved NELO_DATA_DIR). A rewrite builds
a new file beside the old one and renames it into place: DuckDB lets no process write a file
that another has open, even read-only, so writing in place would wait on every open dashboard.
Readers keep the file they opened and the next connection sees the new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import duckdb

from nelo_assets.serving.reader import LAKE_URL_KEY
from nelo_assets.storage.lake import Lake, atomic_path
from nelo_assets.storage.objects import ObjectPath, register_filesystem
from nelo_assets.storage.sql_models import model_sql, parquet_source, sql_string
from nelo_assets.storage.tables import STORED_TABLES, VIEWS, Table, empty_select

SEED_FILE = "_schema.parquet"


def _ensure_seed(lake: Lake, table: str) -> None:
    """A zero-row file with the table's schema, so a glob always matches and an empty table
    answers zero rows instead of an error."""
    seed = lake.table_dir(table) / SEED_FILE
    if seed.exists():
        return
    with atomic_path(seed) as tmp:
        duckdb.connect().execute(
            f"copy ({empty_select(table)}) to {sql_string(str(tmp))} (format parquet)"
        )


def _stored_view(lake: Lake, table: Table) -> str:
    files = parquet_source(
        table.name, sql_string(str(lake.table_dir(table.name) / "**" / "*.parquet"))
    )
    if table.parts_view:
        return f"with {table.parts_view} as ({files}) select * from ({model_sql(table.name)}\n)"
    return files


def view_statements(lake: Lake) -> list[str]:
    """Every CREATE VIEW of analytics.duckdb, in dependency order."""
    resolved = replace(lake, root=lake.root.resolve())
    return [
        f"create or replace view {table.name} as {_stored_view(resolved, table)}"
        for table in STORED_TABLES
    ] + [f"create or replace view {view.name} as {model_sql(view.name)}" for view in VIEWS]


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path))


def _definitions_hash(statements: list[str]) -> str:
    return hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()


def _published_hash(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            row = con.execute("select value from nelo_meta where key = 'views_hash'").fetchone()
    except duckdb.Error:
        return None
    return row[0] if row else None


def publish_views(
    lake: Lake,
    connect: Callable[[Path], duckdb.DuckDBPyConnection] | None = None,
    *,
    force: bool = False,
) -> bool:
    """Create or refresh the views when their definitions changed (always with `force`);
    return True if it wrote. The new file replaces the old one whole (see the module note).

    `connect` opens the new file for writing (the Dagster asset passes its DuckDBResource's
    connection settings); plain `duckdb.connect` by default."""
    lake.local_dir.mkdir(parents=True, exist_ok=True)
    for table in STORED_TABLES:
        _ensure_seed(lake, table.name)
    statements = view_statements(lake)
    wanted = _definitions_hash(statements)
    target = lake.duckdb_path
    if not force and _published_hash(target) == wanted:
        return False
    with atomic_path(target) as new_file:
        new_file.unlink()  # DuckDB creates its database only where no file is
        try:
            with (connect or _connect)(new_file) as con:
                register_filesystem(con, lake.root)  # DuckDB reads the files a view names
                for statement in statements:
                    con.execute(statement)
                con.execute("create table nelo_meta (key varchar primary key, value varchar)")
                con.execute("insert into nelo_meta values ('views_hash', ?)", [wanted])
                if isinstance(lake.root, ObjectPath):  # readers register its filesystem (reader.py)
                    con.execute(
                        "insert into nelo_meta values (?, ?)", [LAKE_URL_KEY, str(lake.root)]
                    )
        finally:
            # Closing checkpoints the log away; a failed build may leave it behind.
            new_file.with_name(f"{new_file.name}.wal").unlink(missing_ok=True)
    return True


def main() -> None:
    from nelo_assets.settings import Settings

    lake = Lake.from_settings(Settings.from_env())
    wrote = publish_views(lake)
    print(f"{lake.duckdb_path}: views {'published' if wrote else 'already up to date'}")


if __name__ == "__main__":
    main()
