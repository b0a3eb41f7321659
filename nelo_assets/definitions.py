"""The single Definitions object of the Nelo pipeline; it only assembles what other modules build."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    in_process_executor,
)

from nelo_assets.alerts import alert_sensor
from nelo_assets.analytics import analytics_writer
from nelo_assets.assets.bronze import bronze_events, ingest_job
from nelo_assets.assets.gold import dim_items, dim_users, fact_event_items, fact_events
from nelo_assets.assets.marts import mart_item_list_daily, mart_product_daily
from nelo_assets.assets.quarantine import quarantine
from nelo_assets.assets.silver import silver
from nelo_assets.assets.views import master_list_items_engagement
from nelo_assets.checks import all_asset_checks
from nelo_assets.lake import Lake
from nelo_assets.partitions import daily_partitions
from nelo_assets.resources import LakeResource
from nelo_assets.sensors import sqs_sensor
from nelo_assets.settings import Settings
from nelo_assets.sqs import SQSResource

settings = Settings.from_env()

assets = [
    bronze_events,
    quarantine,
    silver,
    fact_events,
    fact_event_items,
    dim_items,
    dim_users,
    master_list_items_engagement,
    mart_item_list_daily,
    mart_product_daily,
]

# Backfill a date range of the whole daily pipeline, bronze (from the landing archive) to the
# marts, from the UI or CLI in one launch.
daily_assets = [
    bronze_events,
    silver,
    fact_events,
    fact_event_items,
    mart_item_list_daily,
    mart_product_daily,
]
daily_pipeline_job = define_asset_job(
    "daily_pipeline",
    selection=AssetSelection.assets(*daily_assets),
    partitions_def=daily_partitions,
)

automation_sensor = AutomationConditionSensorDefinition(
    "automation",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=settings.sensor_interval_seconds,
)

defs = Definitions(
    assets=assets,
    asset_checks=all_asset_checks,
    jobs=[ingest_job, daily_pipeline_job],
    sensors=[sqs_sensor, automation_sensor, alert_sensor],
    resources={
        "lake": LakeResource.from_settings(settings),
        "analytics": analytics_writer(Lake(settings.data_dir)),
        "sqs": SQSResource(queue_url=settings.queue_url),
    },
    # A run is one partition's few steps: one process per run, not one per step, is what two
    # cores can afford; parallelism comes from concurrent runs.
    executor=in_process_executor,
)
