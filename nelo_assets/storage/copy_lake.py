"""Move a local lake to S3: copy every file of landing, bronze, quarantine, silver and gold from
NELO_DATA_DIR to an s3:// location, then verify each object (size and SHA-256 read back).

    python -m nelo_assets.storage.copy_lake s3://bucket/prefix [--from DATA_DIR]

Stop the pipeline first (nothing may write the local lake meanwhile); after "verified", set
NELO_LAKE_URL to the same location. analytics.duckdb stays local and is rewritten by the next
views run. Files are uploaded whole, one PUT each (the lake's commit, storage/objects.py), so a
re-run after a failure copies everything again and is safe. Exit codes: 0 verified, 1 a file
differs, 2 a usage or access mistake (one line, no traceback).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from nelo_assets.settings import LAKE_URL, Settings, SettingsError
from nelo_assets.storage.objects import LakeLocationError, ObjectPath, upload
from nelo_assets.storage.tables import TABLES

PROG = "python -m nelo_assets.storage.copy_lake"
UPLOADS_AT_ONCE = 8
CHUNK = 1 << 20


class CopyError(Exception):
    """A mistake in what was asked: printed as one line, exit code 2."""


def lake_folders() -> list[str]:
    """The top folders of a lake's files (analytics.duckdb and Dagster's state are not)."""
    return sorted({"landing"} | {t.folder.split("/")[0] for t in TABLES.values() if t.folder})


def lake_files(data_dir: Path) -> Iterator[Path]:
    """Every file of the lake under data_dir, temporary (dot) files left out."""
    for folder in lake_folders():
        for path in sorted((data_dir / folder).rglob("*")):
            relative = path.relative_to(data_dir)
            if path.is_file() and not any(p.startswith(".") for p in relative.parts):
                yield path


def _sha256(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def copy_lake(data_dir: Path, target: ObjectPath) -> tuple[int, list[str]]:
    """Upload every lake file under data_dir to target; return (files, paths that differ)."""
    files = list(lake_files(data_dir))

    def copy_and_verify(path: Path) -> str | None:
        relative = path.relative_to(data_dir).as_posix()
        remote = target / relative
        upload(path, remote)
        with path.open("rb") as local, remote.open("rb") as copied:
            return None if _sha256(local) == _sha256(copied) else relative

    with ThreadPoolExecutor(max_workers=UPLOADS_AT_ONCE) as pool:
        differing = [r for r in pool.map(copy_and_verify, files) if r is not None]
    return len(files), differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("lake_url", help="destination, s3://bucket/prefix")
    parser.add_argument("--from", dest="data_dir", type=Path, help="default: $NELO_DATA_DIR")
    try:
        args = parser.parse_args(argv)
        if not LAKE_URL.fullmatch(args.lake_url):
            raise CopyError(f"{args.lake_url!r} is not an s3://bucket/prefix URL")
        data_dir = (args.data_dir or Settings.from_env().data_dir).resolve()
        if not any((data_dir / folder).is_dir() for folder in lake_folders()):
            raise CopyError(f"{data_dir} holds no lake (no {', '.join(lake_folders())} folder)")
        target = ObjectPath.from_url(args.lake_url.rstrip("/"))
        if any(target.iterdir()):
            raise CopyError(f"{target} is not empty: copy into a new prefix")
        copied, differing = copy_lake(data_dir, target)
    except (CopyError, SettingsError, LakeLocationError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # S3 refused a request: credentials, permissions, bucket
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if differing:
        print(f"{len(differing)} of {copied} files differ after the copy: {differing[:5]}")
        return 1
    print(f"copied and verified {copied} files from {data_dir} to {target}")
    print(f"next: export NELO_LAKE_URL={target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
