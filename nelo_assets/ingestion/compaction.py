"""Compaction of bronze: once ingestion has moved past a day, its per-batch files are folded
into one, so the builds that read it make a few large requests instead of many small ones.

The ingest run calls `compact_settled_days` as it ends (docs/decisions.md, "Bronze
compaction"). Folding keeps every stored row as it was (duplicates too: the read model still
chooses among them), and is committed by publishing one file (storage/compaction.py). The files
it folded are deleted only `grace` later, by a later compaction, so a reader that listed them
just before still finds them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from nelo_assets.ingestion.bronze import BRONZE, COMPACTED_NAME
from nelo_assets.ingestion.drain import pause_point
from nelo_assets.settings import Settings
from nelo_assets.storage import compaction
from nelo_assets.storage.lake import Lake, LakePath
from nelo_assets.storage.sql_models import ROW_IDENTITY, bind_parquet, connect, write_parquet

# A day is folded once it ended (in the pipeline's time zone) this long ago: its events have
# mostly arrived. Later ones land beside the compaction; the next run folds them into their own.
SETTLE = timedelta(hours=1)
# The days an ingest run looks at: a listing each, so the cost stays flat as the lake grows.
LOOKBACK_DAYS = 3
# How long the files a compaction folded stay readable after it, for readers that listed them
# before it (a build takes seconds to minutes).
GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Compacted:
    event_date: date
    folded: int  # files folded into the new compaction (0: none written)
    rows: int
    deleted: int  # files of earlier compactions' folds, deleted now their grace is over


def compact_partition(
    lake: Lake, event_date: date, now: datetime, grace: timedelta = GRACE
) -> Compacted:
    """Fold the batch files of one bronze partition into one, and delete what earlier
    compactions folded once `grace` has passed since them."""
    partition = lake.partition_dir(BRONZE, event_date)
    deleted = _delete_folded(sorted(partition.glob("*.parquet")), now - grace)
    listed = sorted(partition.glob("*.parquet"))
    with connect(reads=partition) as con:
        # Batch files only. A compaction is never folded again, so late events do not rewrite
        # the whole day each time; nor is the rebuild's file, which each rebuild replaces in
        # place (a later rebuild's rows would be skipped as folded).
        to_fold = [
            p
            for p in compaction.live_files(con, listed)
            if p.name != COMPACTED_NAME and not compaction.is_compaction(p)
        ]
        if len(to_fold) < 2:
            return Compacted(event_date, 0, 0, deleted)
        bind_parquet(con, "folding", BRONZE, to_fold)
        target = partition / compaction.compaction_name(now, uuid.uuid4().hex[:8])
        pause_point("compaction_listed")
        # Every stored row, in file and row order: where two copies of a message tie on the
        # read model's ordering, the first stored still wins.
        rows = write_parquet(
            con,
            BRONZE,
            f"select * exclude ({ROW_IDENTITY}) from folding order by {ROW_IDENTITY}",
            target,
            footer={compaction.FOLDED_KEY: json.dumps(sorted(p.name for p in to_fold))},
        )
    pause_point("compaction_published")
    return Compacted(event_date, len(to_fold), rows, deleted)


def _delete_folded(listed: list[LakePath], before: datetime) -> int:
    """Delete the files that compactions made by `before` folded; the count deleted."""
    old = [
        p for p in listed if compaction.is_compaction(p) and compaction.compacted_at(p) <= before
    ]
    if not old:
        return 0
    with connect(reads=old[0]) as con:
        folded = set().union(*compaction.folded_names(con, old).values())
    deleted = 0
    for path in listed:
        if path.name in folded:
            path.unlink(missing_ok=True)
            deleted += 1
            pause_point("compaction_deleting")
    return deleted


def settled_days(settings: Settings, now: datetime) -> list[date]:
    """The recent days whose end (in the pipeline's time zone) is at least SETTLE ago."""
    last = (now.astimezone(settings.tz) - SETTLE).date() - timedelta(days=1)
    return [last - timedelta(days=back) for back in range(LOOKBACK_DAYS)]


def compact_settled_days(lake: Lake, settings: Settings, now: datetime) -> list[Compacted]:
    """Compact each settled recent day that has files to fold or to delete."""
    return [
        done
        for event_date in settled_days(settings, now)
        if (done := compact_partition(lake, event_date, now)).folded or done.deleted
    ]
