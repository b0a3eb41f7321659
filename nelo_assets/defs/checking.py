"""What the check modules of every layer share: the declaration of a check (its spec and its
result come from the same object), the Parquet views a check reads, and the bronze read model.

Daily checks are partitioned like their asset and evaluate the partition being materialized
(Dagster 1.13 hands `context.partition_key` to a check whose spec has the asset's
partitions_def). One multi-asset check per asset keeps a partition run to one extra step per
asset. ERROR checks are blocking: a failure stops the downstream steps of the same run, so bad
rows never reach gold or the marts. WARN checks only report.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import get_args

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AutomationCondition,
    PartitionsDefinition,
    PreviewWarning,
)

from nelo_assets.contract import Platform
from nelo_assets.quality.rules import Outcome
from nelo_assets.storage.sql_models import bind_parquet, connect, load_sql

ERROR = AssetCheckSeverity.ERROR
WARN = AssetCheckSeverity.WARN

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
        with warnings.catch_warnings():
            # Partitioned check specs are a preview API; verified on Dagster 1.13.27.
            warnings.simplefilter("ignore", PreviewWarning)
            return AssetCheckSpec(
                self.name,
                asset=self.asset,
                description=self.protects,
                blocking=self.blocking,
                partitions_def=partitions_def,
                automation_condition=automation_condition,
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


def check_day(context: AssetCheckExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


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
