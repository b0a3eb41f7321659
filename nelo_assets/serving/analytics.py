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
from pathlib import Path

import duckdb

from nelo_assets.storage.lake import PARTITIONED_TABLES, UNPARTITIONED_TABLES, Lake, atomic_path
from nelo_assets.storage.sql_models import load_sql, parquet_source, sql_string
from nelo_assets.storage.tables import empty_select

SEED_FILE = "_schema.parquet"


def _parquet_source(table: str, pattern: str) -> str:
    return parquet_source(table, sql_string(pattern))


def _ensure_seed(lake: Lake, table: str, directory: Path) -> None:
    """A zero-row file with the table's schema, so a glob always matches and an empty table
    answers zero rows instead of an error."""
    seed = directory / SEED_FILE
    if seed.exists():
        return
    with atomic_path(seed) as tmp:
        duckdb.connect().execute(
            f"copy ({empty_select(table)}) to {sql_string(str(tmp))} (format parquet)"
        )


def view_statements(lake: Lake) -> list[str]:
    """Every CREATE VIEW of analytics.duckdb, in dependency order."""
    root = lake.root.resolve()
    statements = []
    bronze_glob = str(root / "bronze" / "bronze_events" / "**" / "*.parquet")
    statements.append(
        "create or replace view bronze_events as "
        f"with bronze_parts as ({_parquet_source('bronze_events', bronze_glob)}) "
        f"select * from ({load_sql('bronze', 'bronze_events')}\n)"
    )
    quarantine_glob = str(root / "quarantine" / "**" / "*.parquet")
    statements.append(
        "create or replace view quarantine as "
        f"with quarantine_parts as ({_parquet_source('quarantine', quarantine_glob)}) "
        f"select * from ({load_sql('bronze', 'quarantine')}\n)"
    )
    for table in [*PARTITIONED_TABLES, *UNPARTITIONED_TABLES]:
        if table == "bronze_events":
            continue
        glob = str(Lake(root).table_dir(table) / "**" / "*.parquet")
        statements.append(f"create or replace view {table} as {_parquet_source(table, glob)}")
    for view in ("mart_product_daily", "master_list_items_engagement"):
        statements.append(f"create or replace view {view} as {load_sql('views', view)}")
    return statements


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
    lake.root.mkdir(parents=True, exist_ok=True)
    for table in [*PARTITIONED_TABLES, *UNPARTITIONED_TABLES]:
        _ensure_seed(lake, table, lake.table_dir(table))
    _ensure_seed(lake, "quarantine", lake.root / "quarantine")
    statements = view_statements(lake)
    wanted = _definitions_hash(statements)
    target = lake.duckdb_path
    if not force and _published_hash(target) == wanted:
        return False
    with atomic_path(target) as new_file:
        new_file.unlink()  # DuckDB creates its database only where no file is
        try:
            with (connect or _connect)(new_file) as con:
                for statement in statements:
                    con.execute(statement)
                con.execute("create table nelo_meta (key varchar primary key, value varchar)")
                con.execute("insert into nelo_meta values ('views_hash', ?)", [wanted])
        finally:
            # Closing checkpoints the log away; a failed build may leave it behind.
            new_file.with_name(f"{new_file.name}.wal").unlink(missing_ok=True)
    return True


def main() -> None:
    from nelo_assets.settings import Settings

    lake = Lake(Settings.from_env().data_dir)
    wrote = publish_views(lake)
    print(f"{lake.duckdb_path}: views {'published' if wrote else 'already up to date'}")


if __name__ == "__main__":
    main()
