"""The quarantine table: every message or event that failed the contract, kept with its reason."""

from dagster import MaterializeResult, MetadataValue, asset

from nelo_assets.defs.common import asset_kwargs
from nelo_assets.defs.metadata import table_metadata
from nelo_assets.defs.resources import LakeResource
from nelo_assets.storage.sql_models import bind_parquet, connect, model_sql


def quarantine_counts(lake_resource: LakeResource) -> list[tuple[str, str, int]]:
    """(stage, reason, rows) over the whole quarantine, de-duplicated like the published view."""
    with connect() as con:
        bind_parquet(con, "quarantine_parts", "quarantine", lake_resource.lake.quarantine_files())
        return con.execute(
            f"select stage, reason, count(*) from ({model_sql('quarantine')}\n) "
            "group by all order by 1, 2"
        ).fetchall()


@asset(deps=["bronze_events", "silver_events"], **asset_kwargs("bronze", "quarantine"))
def quarantine(lake: LakeResource) -> MaterializeResult:
    """What the app sent that broke the contract, by reason, so it can be fixed and replayed."""
    counts = quarantine_counts(lake)
    total = sum(n for _, _, n in counts)
    table = "\n".join(f"| {stage} | {reason} | {n} |" for stage, reason, n in counts)
    return MaterializeResult(
        metadata=table_metadata(
            "quarantine",
            total,
            by_reason=MetadataValue.md("| stage | reason | rows |\n|---|---|---|\n" + table),
        )
    )
