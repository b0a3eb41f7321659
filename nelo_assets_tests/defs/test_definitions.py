"""The whole Definitions object loads, and the UI shows what a data engineer expects of each asset."""

from __future__ import annotations

import dagster as dg

from nelo_assets.definitions import defs

TABLE_ASSETS = {
    "bronze_events": "bronze",
    "quarantine": "bronze",
    "silver_events": "silver",
    "silver_items": "silver",
    "fact_events": "gold",
    "fact_event_items": "gold",
    "dim_items": "gold",
    "dim_users": "gold",
    "master_list_items_engagement": "gold",
    "mart_item_list_daily": "marts",
    "mart_product_daily": "marts",
    "mart_list_position_daily": "marts",
}


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_table_is_an_asset_with_group_kinds_owner_and_description() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(TABLE_ASSETS)
    for name, group in TABLE_ASSETS.items():
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == group, name
        assert {"duckdb", "parquet"} <= set(node.kinds), name
        assert node.owners, name
        assert node.description, name


def test_sensors_and_jobs_are_there() -> None:
    assert {s.name for s in defs.sensors} >= {"sqs_sensor", "automation"}
    assert defs.resolve_job_def("daily_pipeline") is not None
    assert defs.resolve_job_def("ingest_job") is not None


def test_ingest_runs_go_first_and_are_not_retried() -> None:
    """The SQS sensor is the ingest run's retry, and an ingest run must not wait behind the
    day-by-day rebuild that automation queues after a restart."""
    tags = defs.resolve_job_def("ingest_job").tags
    assert tags["dagster/max_retries"] == "0"
    assert int(tags["dagster/priority"]) > 0
