"""Checks on the daily marts: one row per grain, rates that hold over the day, no negative money."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial

from dagster import AssetCheckExecutionContext, AssetCheckResult, multi_asset_check

from nelo_assets.defs.checking import ERROR, WARN, Check, evaluate_days, specs, views
from nelo_assets.defs.partitions import daily_partitions
from nelo_assets.defs.resources import LakeResource
from nelo_assets.quality import rules

LIST_GRAIN = Check(
    name="mart_item_list_daily_grain",
    asset="mart_item_list_daily",
    severity=ERROR,
    protects="two rows for one date and list",
)
LIST_RATES = Check(
    name="mart_item_list_daily_rates",
    asset="mart_item_list_daily",
    severity=WARN,
    protects="a rate above 1 over the whole day (its denominator's events stopped); counts the rows above 1",
)
LIST_MONEY = Check(
    name="mart_item_list_daily_money",
    asset="mart_item_list_daily",
    severity=ERROR,
    protects="negative attributed_revenue",
)
PRODUCT_GRAIN = Check(
    name="mart_product_daily_grain",
    asset="mart_product_daily",
    severity=ERROR,
    protects="two rows for one date and item",
)
PRODUCT_RATES = Check(
    name="mart_product_daily_rates",
    asset="mart_product_daily",
    severity=WARN,
    protects="a rate above 1 over the whole day (its denominator's events stopped); counts the rows above 1",
)
PRODUCT_MONEY = Check(
    name="mart_product_daily_money",
    asset="mart_product_daily",
    severity=ERROR,
    protects="negative item_revenue",
)
POSITION_GRAIN = Check(
    name="mart_list_position_daily_grain",
    asset="mart_list_position_daily",
    severity=ERROR,
    protects="two rows for one date, list and position",
)
POSITION_RATES = Check(
    name="mart_list_position_daily_rates",
    asset="mart_list_position_daily",
    severity=WARN,
    protects="a rate above 1 over the whole day (its denominator's events stopped); counts the rows above 1",
)


@dataclass(frozen=True)
class MartChecks:
    """The same checks on every mart: grain (event_date, dimensions), rates, then money when
    the mart has any."""

    table: str
    dimensions: tuple[str, ...]
    rates: tuple[tuple[str, str, str], ...]  # (rate, numerator, denominator) as in docs/tables.md
    money: tuple[str, ...]
    checks: tuple[Check, ...]  # grain, rates, then money if any


ITEM_LIST = MartChecks(
    "mart_item_list_daily",
    ("item_list_name",),
    (
        ("click_through_rate", "list_clickers", "list_viewers"),
        ("item_click_rate", "items_clicked", "item_impressions"),
    ),
    ("attributed_revenue",),
    (LIST_GRAIN, LIST_RATES, LIST_MONEY),
)
PRODUCT = MartChecks(
    "mart_product_daily_metrics",
    ("item_id",),
    (
        ("click_through_rate", "clicks", "impressions"),
        ("cart_to_view_rate", "cart_adders", "viewers"),
        ("purchase_to_view_rate", "purchasers", "viewers"),
    ),
    ("item_revenue",),
    (PRODUCT_GRAIN, PRODUCT_RATES, PRODUCT_MONEY),
)
LIST_POSITION = MartChecks(
    "mart_list_position_daily",
    ("item_list_name", "position_in_list"),
    (("item_click_rate", "item_clicks", "item_impressions"),),
    (),
    (POSITION_GRAIN, POSITION_RATES),
)


def mart_day_results(lake: LakeResource, mart: MartChecks, day: date) -> Iterator[AssetCheckResult]:
    grain, rates_check, *money_check = mart.checks
    key = ["event_date", *mart.dimensions]
    with views(mart=(mart.table, [lake.lake.partition_file(mart.table, day)])) as con:
        yield grain.result(
            rules.unique_key(con, "mart", key),
            rules.in_partition(con, "mart", day, mart.dimensions[0]),
        )
        yield rates_check.result(rules.rates_over_the_day(con, "mart", mart.rates))
        for check in money_check:
            yield check.result(rules.negative_money(con, "mart", mart.money, key))


@multi_asset_check(
    specs=specs(*ITEM_LIST.checks, partitions_def=daily_partitions),
    name="mart_item_list_daily_checks",
)
def mart_item_list_daily_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    yield from evaluate_days(context, partial(mart_day_results, lake, ITEM_LIST))


@multi_asset_check(
    specs=specs(*PRODUCT.checks, partitions_def=daily_partitions),
    name="mart_product_daily_checks",
)
def mart_product_daily_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    yield from evaluate_days(context, partial(mart_day_results, lake, PRODUCT))


@multi_asset_check(
    specs=specs(*LIST_POSITION.checks, partitions_def=daily_partitions),
    name="mart_list_position_daily_checks",
)
def mart_list_position_daily_checks(
    context: AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[AssetCheckResult]:
    yield from evaluate_days(context, partial(mart_day_results, lake, LIST_POSITION))
