"""The query surface: views in analytics.duckdb, and the engagement view the design asks for."""

from pathlib import Path
from typing import Any

from dagster import MaterializeResult, asset
from dagster_duckdb import DuckDBResource

from nelo_assets.defs.common import asset_kwargs
from nelo_assets.defs.resources import LakeResource
from nelo_assets.serving.analytics import publish_views
from nelo_assets.serving.reader import connect_analytics

# The only writer of analytics.duckdb; the pool serializes it across runs (R6).
ANALYTICS_POOL = "analytics_duckdb"


@asset(
    deps=["fact_events", "fact_event_items", "dim_items", "mart_product_daily"],
    pool=ANALYTICS_POOL,
    **asset_kwargs("gold", "master_list_items_engagement"),
)
def master_list_items_engagement(
    lake: LakeResource, analytics: DuckDBResource
) -> MaterializeResult:
    """Every product interaction that came from a list, with its event context (a DuckDB view)."""

    def connect_new_file(path: Path) -> Any:
        # The resource's connection settings, on the new file that replaces analytics.duckdb.
        fresh = DuckDBResource(database=str(path), connection_config=analytics.connection_config)
        return fresh.get_connection()

    wrote = publish_views(lake.lake, connect_new_file)
    with connect_analytics(lake.lake.duckdb_path) as con:
        ((rows,),) = con.execute("select count(*) from master_list_items_engagement").fetchall()
        views = con.execute(
            "select view_name from duckdb_views() where not internal order by 1"
        ).fetchall()
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "views_rewritten": wrote,
            "analytics_duckdb": str(lake.lake.duckdb_path),
            "views": ", ".join(name for (name,) in views),
        }
    )
