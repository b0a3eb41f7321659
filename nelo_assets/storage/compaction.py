"""Which files of a bronze partition a reader counts, once compaction has folded some into one.

A compaction file (`compaction-<UTC time>-<random>.parquet`) holds every stored row of the
files it folded, and names them in its Parquet footer. Publishing it is the commit, one atomic
write: from then on readers skip the files it names, whether they are still there or not, so
a reader counts either the old files or the new one, never both, whatever the instant a
compaction stops. The files written after its listing (a concurrent ingest's late events) are
not named, so they stay counted (docs/decisions.md, "Bronze compaction").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from nelo_assets.storage.lake import LakePath

PREFIX = "compaction-"
FOLDED_KEY = "nelo_folded"  # footer key: the JSON list of the file names a compaction holds
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def is_compaction(path: LakePath) -> bool:
    return path.name.startswith(PREFIX)


def compaction_name(now: datetime, token: str) -> str:
    return f"{PREFIX}{now.astimezone(UTC):{_TIME_FORMAT}}-{token}.parquet"


def compacted_at(path: LakePath) -> datetime:
    stamp = path.name.removeprefix(PREFIX).split("-", 1)[0]
    return datetime.strptime(stamp, _TIME_FORMAT).replace(tzinfo=UTC)


def folded_names(con: duckdb.DuckDBPyConnection, files: Sequence[LakePath]) -> dict[str, set[str]]:
    """Compaction file URL -> the names of the files beside it that it folded, read from the
    footers of `files`' compactions (on `con`, whose filesystem then has them for the read that
    follows)."""
    compactions = [str(p) for p in files if is_compaction(p)]
    if not compactions:
        return {}
    rows = con.execute(
        "select file_name, value from parquet_kv_metadata(?) where decode(key) = ?",
        [compactions, FOLDED_KEY],
    ).fetchall()
    folded = {url: set(json.loads(value.decode())) for url, value in rows}
    return {url: folded.get(url, set()) for url in compactions}


def live_files(con: duckdb.DuckDBPyConnection, files: Sequence[LakePath]) -> list[LakePath]:
    """The files of a listing a reader counts: all but those a compaction beside them folded."""
    parents = {str(p): p.parent for p in files}
    folded = {
        str(parents[url] / name)
        for url, names in folded_names(con, files).items()
        for name in names
    }
    return [p for p in files if str(p) not in folded]
