"""The automation condition every derived asset uses: follow upstream changes in any partition."""

from __future__ import annotations

from dagster import AutomationCondition


def follow_upstream() -> AutomationCondition:
    """`eager()` without its latest-window limit and without waiting for missing parents.

    Late events re-materialize old partitions, so the latest-window limit must go. A day with no
    events has no bronze partition; waiting for "missing" parents would stall the lookback
    dependents (sessions D+1, attribution D+1..D+7) forever, and a missing Parquet file reads
    as an empty table anyway.
    """
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("follow_upstream")
