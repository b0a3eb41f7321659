"""What the check modules of every layer share: the declaration of a check (its spec and its
result come from the same object), the Parquet views a check reads, and the bronze read model.

Daily checks are partitioned like their asset and evaluate every day the run materializes: one
partition, or a backfill chunk's range (Dagster 1.13 hands `context.partition_keys` to a check
whose spec has the asset's partitions_def; `evaluate_days` below). One multi-asset check per
asset keeps a run to one extra step per asset. ERROR checks are blocking: a failure stops the downstream steps of the same run, so bad
rows never reach gold or the marts. WARN checks only report.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import get_args

import duckdb
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetRecordsFilter,
    AutomationCondition,
    PartitionsDefinition,
    PreviewWarning,
)

# Not exported by Dagster 1.13, though AssetCheckEvaluation (public) takes it: see _checked_build.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from nelo_assets.contract import Platform
from nelo_assets.defs.common import partition_dates
from nelo_assets.quality.rules import Outcome
from nelo_assets.storage.sql_models import bind_parquet, connect, load_sql

ERROR = AssetCheckSeverity.ERROR
WARN = AssetCheckSeverity.WARN

# The automation sensor requests only the checks whose own condition is true: a check without
# one never ran in automation's runs, so the live days' checks read "Not evaluated" in the UI
# and blocked nothing. This one is true whenever the check's asset is requested, for the same
# partitions: the check rides in that run.
WITH_ITS_ASSET = AutomationCondition.any_deps_match(
    AutomationCondition.will_be_requested()
).with_label("with its asset")

# The contract's platforms, UNKNOWN included: the values silver and fact_events may hold.
PLATFORMS: tuple[str, ...] = get_args(Platform)


@dataclass(frozen=True)
class Check:
    """One asset check: docs/checks.md has a row for each."""

    name: str
    asset: str
    severity: AssetCheckSeverity
    protects: str
    # An ERROR check blocks downstream unless it opts out here, saying why beside it.
    blocks: bool = True

    @property
    def blocking(self) -> bool:
        return self.severity == ERROR and self.blocks

    @property
    def metadata(self) -> dict[str, str]:
        # A spec has no severity of its own (only results do): the metadata shows it in the UI.
        return {"severity": self.severity.value}

    def spec(
        self,
        partitions_def: PartitionsDefinition | None = None,
        automation_condition: AutomationCondition | None = None,
    ) -> AssetCheckSpec:
        """The check's spec; it runs in every run that builds its asset, automation's too."""
        with warnings.catch_warnings():
            # Partitioned check specs are a preview API; verified on Dagster 1.13.27.
            warnings.simplefilter("ignore", PreviewWarning)
            return AssetCheckSpec(
                self.name,
                asset=self.asset,
                description=self.protects,
                blocking=self.blocking,
                partitions_def=partitions_def,
                automation_condition=automation_condition or WITH_ITS_ASSET,
                metadata=self.metadata,
            )

    def result(self, *outcomes: Outcome) -> AssetCheckResult:
        """The check's result from one or more rules: it passes when all of them pass."""
        failed = [o for o in outcomes if not o.passed]
        metadata = {k: v for o in outcomes for k, v in o.metadata.items()}
        metadata["violations"] = sum(o.metadata.get("violations", 0) for o in outcomes)
        metadata["examples"] = "\n".join(o.metadata.get("examples", "") for o in failed).strip()
        return AssetCheckResult(
            asset_key=self.asset,
            check_name=self.name,
            passed=not failed,
            severity=self.severity,
            description="; ".join(o.message for o in (failed or outcomes)),
            metadata=metadata,
        )


def specs(
    *checks: Check, partitions_def: PartitionsDefinition | None = None
) -> list[AssetCheckSpec]:
    return [check.spec(partitions_def) for check in checks]


def evaluate_days(
    context: AssetCheckExecutionContext, day_results: Callable[[date], Iterable[AssetCheckResult]]
) -> Iterator[AssetCheckResult]:
    """The results of `day_results` for every day of the run, oldest first.

    A range run (a backfill chunk) records each day's evaluation on that day's partition, so
    the UI shows which day failed; then one result per check for the run, failed when any day
    failed and naming those days, so a blocking check still stops the chunk's downstream steps
    (Dagster 1.13 gives a range run's check result no partition of its own; decisions §16).
    """
    days = partition_dates(context)
    if len(days) == 1:
        yield from day_results(days[0])
        return
    blocking = {(spec.asset_key, spec.name): spec.blocking for spec in context.check_specs}
    by_check: dict[tuple[AssetKey, str], list[tuple[date, AssetCheckResult]]] = defaultdict(list)
    for day in days:
        for result in day_results(day):
            key = (AssetKey.from_coercible(result.asset_key), result.check_name)
            context.op_execution_context.log_event(
                AssetCheckEvaluation(
                    asset_key=key[0],
                    check_name=key[1],
                    passed=result.passed,
                    metadata=result.metadata,
                    severity=result.severity,
                    description=result.description,
                    blocking=blocking[key],
                    partition=day.isoformat(),
                    target_materialization_data=_checked_build(context, key[0], day),
                )
            )
            by_check[key].append((day, result))
    for (asset_key, name), outcomes in by_check.items():
        yield _range_result(asset_key, name, outcomes)


def _checked_build(
    context: AssetCheckExecutionContext, asset_key: AssetKey, day: date
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The materialization of `day` this evaluation checked, as Dagster records it for a result
    of a one-day run. The UI shows a partition's check state only when the evaluation names the
    partition's latest build; without it, every day of a backfill read "Not evaluated"."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    if not records:
        return None
    built = records[0]
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=built.run_id, storage_id=built.storage_id, timestamp=built.timestamp
    )


def _range_result(
    asset_key: AssetKey, name: str, outcomes: list[tuple[date, AssetCheckResult]]
) -> AssetCheckResult:
    """One check over a range: passed when every day passed; the failed days come first."""
    failed = [(day, result) for day, result in outcomes if not result.passed]
    span = f"{outcomes[0][0]}...{outcomes[-1][0]}"
    if failed:
        names = ", ".join(str(day) for day, _ in failed)
        details = "; ".join(f"{day}: {result.description}" for day, result in failed)
        description = f"failed on {names} (of {span}): {details}"
    else:
        description = f"passed on every day of {span}"
    violations = sum(_value(result.metadata.get("violations")) for _, result in outcomes)
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=name,
        passed=not failed,
        severity=outcomes[0][1].severity,
        description=description,
        metadata={
            "partition_range": span,
            "failed_days": ", ".join(str(day) for day, _ in failed),
            "violations": violations,
        },
    )


def _value(metadata: object) -> int:
    """An int metadata entry as stored (a MetadataValue once the result is built), 0 if none."""
    return int(getattr(metadata, "value", metadata) or 0)


@contextmanager
def views(**bound: tuple[str, Iterable[Path]]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with each view bound to files of a table: view=(table, files)."""
    con = connect()
    try:
        for view, (table, files) in bound.items():
            bind_parquet(con, view, table, files)
        yield con
    finally:
        con.close()


def bronze_read_model(con: duckdb.DuckDBPyConnection) -> None:
    """View bronze_events, one row per message and batch index, over the bound bronze_parts."""
    con.execute(f"create temp view bronze_events as {load_sql('bronze', 'bronze_events')}")
