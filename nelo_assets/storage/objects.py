"""Paths on an object store (S3) that behave like the pathlib paths of a local lake.

The lake's code calls the same path methods whatever the store (`glob`, `exists`, `open`,
`unlink`, `read_text`, and `atomic_path` to write), so one code path serves both. An
`ObjectPath` does each call through pyarrow's S3 filesystem (the AWS credential chain, and
AWS_ENDPOINT_URL_S3 for S3-compatible servers); `str()` gives the `s3://` URL DuckDB reads once
`register_filesystem` has handed it the same filesystem.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache
from pathlib import Path, PurePosixPath
from typing import IO

import duckdb
import pyarrow.fs as pafs
from fsspec.implementations.arrow import ArrowFSWrapper

SCHEMES = ("s3",)
# Folders a build lists at once: a build's lookback is a few days, each its own folder.
LISTING_THREADS = 16


class LakeLocationError(ValueError):
    """The lake's object-store location cannot be used (bad URL, no bucket, no credentials)."""


class ObjectPath:
    """A key (or key prefix) on an object store, with the subset of pathlib the lake uses."""

    __slots__ = ("_fs", "_key", "_scheme")

    def __init__(self, fs: pafs.FileSystem, scheme: str, key: str | PurePosixPath) -> None:
        self._fs = fs
        self._scheme = scheme
        self._key = PurePosixPath(key)  # "bucket/prefix/...", as pyarrow names objects

    @classmethod
    def from_url(cls, url: str) -> ObjectPath:
        """`s3://bucket/prefix`; the filesystem is built once per URL and AWS environment."""
        scheme = url.split("://", 1)[0]
        if scheme not in SCHEMES or not url.removeprefix(f"{scheme}://").strip("/"):
            raise LakeLocationError(f"{url!r} is not an s3://bucket/prefix URL")
        aws = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
        try:
            fs, key = _filesystem(url.rstrip("/"), aws)
        except OSError as exc:  # pyarrow's message names the bucket and the AWS error
            raise LakeLocationError(f"lake {url}: {' '.join(str(exc).split())}") from exc
        return cls(fs, scheme, key)

    # --- pure path arithmetic ----------------------------------------------------------------

    def _child(self, key: PurePosixPath) -> ObjectPath:
        return ObjectPath(self._fs, self._scheme, key)

    def __truediv__(self, part: str) -> ObjectPath:
        return self._child(self._key / part)

    def __str__(self) -> str:
        return f"{self._scheme}://{self._key}"

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))

    def __lt__(self, other: ObjectPath) -> bool:
        return self._key < other._key

    @property
    def filesystem(self) -> pafs.FileSystem:
        return self._fs

    @property
    def key(self) -> str:
        return str(self._key)

    @property
    def name(self) -> str:
        return self._key.name

    @property
    def stem(self) -> str:
        return self._key.stem

    @property
    def suffix(self) -> str:
        return self._key.suffix

    @property
    def parts(self) -> tuple[str, ...]:
        return self._key.parts

    @property
    def parent(self) -> ObjectPath:
        return self._child(self._key.parent)

    def with_name(self, name: str) -> ObjectPath:
        return self._child(self._key.with_name(name))

    def resolve(self) -> ObjectPath:
        return self

    # --- reads ---------------------------------------------------------------------------------

    def _info(self) -> pafs.FileInfo:
        return self._fs.get_file_info(self.key)

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self._info().type == pafs.FileType.Directory

    def iterdir(self) -> Iterator[ObjectPath]:
        selector = pafs.FileSelector(self.key, allow_not_found=True, recursive=False)
        for info in self._fs.get_file_info(selector):
            yield self._child(PurePosixPath(info.path))

    def glob(self, pattern: str) -> Iterator[ObjectPath]:
        """Files and folders below this prefix whose relative path matches `pattern` segment by
        segment (no `**`); names starting with a dot are skipped, as temporary files are."""
        depth = len(PurePosixPath(pattern).parts)
        selector = pafs.FileSelector(self.key, allow_not_found=True, recursive=depth > 1)
        for info in self._fs.get_file_info(selector):
            relative = PurePosixPath(info.path).relative_to(self._key)
            if (
                len(relative.parts) == depth
                and relative.match(pattern)
                and not any(part.startswith(".") for part in relative.parts)
            ):
                yield self._child(PurePosixPath(info.path))

    def open(self, mode: str = "rb") -> IO[bytes]:
        if mode != "rb":
            raise ValueError("object paths are read with open('rb'); write with atomic_path")
        return self._fs.open_input_stream(self.key, compression=None)  # bytes as stored

    def read_bytes(self) -> bytes:
        with self.open() as handle:
            return handle.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    # --- writes --------------------------------------------------------------------------------

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a prefix exists as soon as an object is under it."""

    def rmdir(self) -> None:
        """Like os.rmdir: refuse while something is below; an empty prefix is already gone."""
        if any(True for _ in self.iterdir()):
            raise OSError(f"{self} is not empty")

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self._fs.delete_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise

    @contextmanager
    def publishing(self) -> Iterator[Path]:
        """Yield a local temporary file; once it is whole, upload it as this object.

        The object store replaces an object atomically at the end of one PUT (or of a completed
        multipart upload) and keeps the old one when an upload fails, so readers see the old
        object or the new one. Writing straight to the store could publish a truncated object
        when the writer fails part-way (duckdb#12038): only a finished file is ever sent.
        """
        with tempfile.TemporaryDirectory(prefix="nelo-upload-") as scratch:
            local = Path(scratch) / self.name
            yield local
            upload(local, self)


def upload(local: Path, target: ObjectPath) -> None:
    """Copy a finished local file to `target` in one upload."""
    pafs.copy_files(
        str(local),
        target.key,
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=target.filesystem,
    )


@cache
def _filesystem(url: str, _aws_environment: tuple[tuple[str, str], ...]) -> tuple:
    # from_uri asks the bucket for its region; the rest follows the AWS SDK's default chain.
    # A delayed open lets pyarrow send a small file in one PUT, not a three-request multipart
    # upload; a failed upload still raises, when the file is closed.
    return pafs.FileSystem.from_uri(url + ("&" if "?" in url else "?") + "allow_delayed_open=true")


# DuckDB reads a Parquet file in many small ranges (a footer, then each column chunk), and opens
# it again for each scan of it; on S3 each would be a request of tens of ms. Read by blocks
# instead: one GET brings a whole block (all of most files), and every later read in it, from
# any of DuckDB's threads or any later open of the file by the same connection, is served from
# memory. The blocks a connection keeps are bounded (BLOCK_BYTES x CACHE_BLOCKS).
BLOCK_BYTES = 8 * 2**20
CACHE_BLOCKS = 32


class LakeFileSystem(ArrowFSWrapper):
    """fsspec's wrapper of a pyarrow filesystem, for DuckDB, that asks the store about each
    object once: DuckDB checks, sizes and dates a file before reading it (three HEAD requests
    through the plain wrapper), then opens and reads it in small ranges. One instance per DuckDB
    connection, which lives for one build or one query, so what it remembers (listings, open
    files, blocks read) cannot go stale for long; a file replaced meanwhile reads as a decoding
    error that the dashboard retries (queries.READ_ATTEMPTS)."""

    cachable = False  # fsspec would otherwise share one instance, and its memory, process-wide

    def __init__(self, fs: pafs.FileSystem) -> None:
        super().__init__(fs)
        self._files: dict[str, pafs.FileInfo] = {}
        self._lock = threading.Lock()
        self._handles: dict[str, pafs.NativeFile] = {}
        self._blocks: OrderedDict[tuple[str, int], Future[bytes]] = OrderedDict()

    def remember(self, infos: Iterable[pafs.FileInfo]) -> None:
        self._files.update((info.path, info) for info in infos if info.type == pafs.FileType.File)

    def _file_info(self, path: str) -> pafs.FileInfo:
        path = self._strip_protocol(path)
        if path not in self._files:
            [info] = self.fs.get_file_info([path])
            if info.type != pafs.FileType.File:
                return info
            self._files[path] = info
        return self._files[path]

    def info(self, path: str, **kwargs: object) -> dict:
        return self._make_entry(self._file_info(path))

    def _open(self, path: str, mode: str = "rb", **kwargs: object) -> IO[bytes]:
        if mode != "rb":
            return super()._open(path, mode, **kwargs)
        path = self._strip_protocol(path)
        return BlockReads(self, path, self._file_info(path).size)

    def modified(self, path: str) -> object:
        return self._file_info(path).mtime

    def block(self, path: str, index: int) -> bytes:
        """Block `index` of `path`: fetched by the first thread that asks, which the others
        asking meanwhile wait for, then kept until CACHE_BLOCKS newer ones push it out."""
        key = (path, index)
        with self._lock:
            pending = self._blocks.get(key)
            if pending is None:
                pending = self._blocks[key] = Future()
                fetch = True
                while len(self._blocks) > CACHE_BLOCKS:
                    self._blocks.popitem(last=False)
            else:
                fetch = False
                self._blocks.move_to_end(key)
        if fetch:
            try:
                pending.set_result(self._handle(path).read_at(BLOCK_BYTES, index * BLOCK_BYTES))
            except BaseException as exc:
                with self._lock:
                    self._blocks.pop(key, None)
                pending.set_exception(exc)
        return pending.result()

    def _handle(self, path: str) -> pafs.NativeFile:
        """One open file per path (opening costs a HEAD); its reads by position are safe from
        several threads at once."""
        with self._lock:
            handle = self._handles.get(path)
        if handle is None:
            handle = self.fs.open_input_file(path)
            with self._lock:
                handle = self._handles.setdefault(path, handle)
        return handle


class BlockReads(io.RawIOBase):
    """A file of the lake read through its filesystem's blocks. DuckDB's threads share one
    handle, each seeking then reading, and Python may switch threads between the two calls:
    each thread keeps its own position, so another's seek cannot move its read (a shared one
    read bytes from the wrong place, seen as Parquet decoding errors under S3's latency)."""

    def __init__(self, fs: LakeFileSystem, path: str, size: int) -> None:
        super().__init__()
        self._fs = fs
        self._path = path
        self._size = size
        self._thread = threading.local()

    @property
    def _position(self) -> int:
        return getattr(self._thread, "position", 0)

    @_position.setter
    def _position(self, position: int) -> None:
        self._thread.position = position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}
        self._position = base[whence] + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        position = self._position
        end = self._size if size is None or size < 0 else min(self._size, position + size)
        pieces = []
        while position < end:
            index, start = divmod(position, BLOCK_BYTES)
            piece = self._fs.block(self._path, index)[start : start + end - position]
            if not piece:
                break  # the object is shorter than listed: it was replaced meanwhile
            pieces.append(piece)
            position += len(piece)
        self._position = position
        return b"".join(pieces)


_REGISTERED: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, LakeFileSystem] = (
    weakref.WeakKeyDictionary()
)


def register_filesystem(con: duckdb.DuckDBPyConnection, path: Path | ObjectPath) -> None:
    """Let DuckDB read `s3://` URLs of `path`'s store on `con` (nothing to do for a local path)."""
    if isinstance(path, ObjectPath):
        _registered(con, path.filesystem)


def _registered(con: duckdb.DuckDBPyConnection, fs: pafs.FileSystem) -> LakeFileSystem:
    if con not in _REGISTERED:
        wrapper = LakeFileSystem(fs)
        con.register_filesystem(wrapper)
        _REGISTERED[con] = wrapper
    return _REGISTERED[con]


def readable_files(
    con: duckdb.DuckDBPyConnection, paths: Iterable[Path | ObjectPath]
) -> list[Path | ObjectPath]:
    """The paths that exist, and `con` able to read them: a local file by a stat each; object
    files by one listing of each folder they are in (a missing object would cost a HEAD and a
    LIST), the folders listed at once, whose answers `con`'s filesystem then reuses."""
    paths = list(paths)
    remote = [p for p in paths if isinstance(p, ObjectPath)]
    found: set[str] = set()
    if remote:
        fs = remote[0].filesystem
        folders = sorted({p.parent.key for p in remote})
        with ThreadPoolExecutor(min(LISTING_THREADS, len(folders))) as pool:
            listings = pool.map(
                lambda folder: fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)),
                folders,
            )
            infos = [info for listing in listings for info in listing]
        _registered(con, fs).remember(infos)
        found = {info.path for info in infos if info.type == pafs.FileType.File}
    return [p for p in paths if (p.key in found if isinstance(p, ObjectPath) else Path(p).exists())]
