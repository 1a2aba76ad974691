"""The store: save = hash -> blob put -> index commit; read = index -> blob -> verify.

An ``ArtifactStore`` pairs a blob store with an index and is what the facades call. Its
methods block; the async facade runs them on its I/O threads. Files up to
``Settings.inline_max`` bytes are kept inline in the index, so saving one is a single
durable transaction; larger ones are written to the blob store (temp file, fsync, rename,
directory fsync) before the index commit that makes the artifact visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from io import FileIO
from pathlib import Path
from typing import Final

from satchel import _faults
from satchel.commit import GroupCommitter
from satchel.config import Settings
from satchel.errors import (
    BlobCollectedError,
    ConfigError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    StorageError,
    UnsupportedEntryError,
)
from satchel.hashing import Digest, HashingSink, copy_and_hash, digest_bytes, verify
from satchel.index import ArtifactQuery, ArtifactWrite, Index, open_index
from satchel.index.base import BlobCollection, Reader, RunQuery
from satchel.models import (
    Artifact,
    ArtifactFile,
    Occurrence,
    Run,
    RunStatus,
    format_time,
    new_id,
)
from satchel.storage import (
    BlobSink,
    BlobStore,
    DigestFirstUpload,
    FileAdoption,
    open_blob_store,
)
from satchel.storage.factory import local_root_of

__all__ = [
    "ArtifactStore",
    "BlobWriter",
    "StoredBlob",
    "index_url_of",
    "local_copy_matches",
    "open_regular_file",
]

INLINE_LOOKUP_MAX: Final = 1024 * 1024
_RACY_NS: Final = 100_000_000  # a file modified this recently may change within one mtime tick
#: Blobs deleted at once by a collection (``ArtifactStore.collect_blobs``).
_DELETE_THREADS: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredBlob:
    """Bytes that are durable (in the blob store) or ready to commit inline."""

    digest: Digest
    size: int
    inline: bytes | None = None


def open_regular_file(path: str | os.PathLike[str], *, follow_symlinks: bool = True) -> FileIO:
    """Open a regular file for reading; FIFOs, devices and sockets are refused.

    ``O_NONBLOCK`` keeps a FIFO from blocking the open; the type is checked on the open
    descriptor, so a swap between check and open cannot slip another kind of file in.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise NotFoundError(f"no such file: {os.fspath(path)}") from exc
    except OSError as exc:
        if not follow_symlinks and exc.errno == errno.ELOOP:  # the last component is a link
            raise UnsupportedEntryError(f"refusing a symlink: {os.fspath(path)}") from exc
        if exc.errno == errno.ENXIO:  # a socket (or a device with nothing behind it)
            raise UnsupportedEntryError(
                f"{os.fspath(path)} is a socket or device, not a regular file"
            ) from exc
        raise StorageError(f"cannot open {os.fspath(path)}: {exc.strerror}", exc.errno) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
        )
        if stat.S_ISDIR(mode):
            from satchel.errors import ArtifactIsDirectoryError  # noqa: PLC0415

            raise ArtifactIsDirectoryError(f"{os.fspath(path)} is a directory, not a file")
        raise UnsupportedEntryError(f"{os.fspath(path)} is {kind}, not a regular file")
    return FileIO(fd, "rb", closefd=True)


class _HashCache:
    """Digests of files this process hashed, keyed by inode, size, mtime and ctime.

    An entry is recorded only when the file did not change while it was hashed and was last
    modified well before hashing began, so a later change always shows in mtime or ctime
    (git's "racily clean" rule). Saving an unchanged large file again then skips reading it.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, int], tuple[int, int, int, Digest]] = {}
        self._lock = threading.Lock()

    def lookup(self, st: os.stat_result) -> Digest | None:
        with self._lock:
            entry = self._entries.get((st.st_dev, st.st_ino))
        if entry is None:
            return None
        size, mtime, ctime, digest = entry
        if (size, mtime, ctime) != (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
            return None
        return digest

    def record(
        self, before: os.stat_result, after: os.stat_result, started_ns: int, digest: Digest
    ) -> None:
        key = ("st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
        if any(getattr(before, k) != getattr(after, k) for k in key):
            return
        if before.st_mtime_ns >= started_ns - _RACY_NS:
            return
        with self._lock:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[(before.st_dev, before.st_ino)] = (
                before.st_size,
                before.st_mtime_ns,
                before.st_ctime_ns,
                digest,
            )


def local_copy_matches(file: ArtifactFile, path: Path, *, chunk_size: int) -> bool:
    """True when ``path`` is a regular file (not a link) holding exactly ``file``'s bytes."""
    try:
        with open_regular_file(path, follow_symlinks=False) as fh:
            if os.fstat(fh.fileno()).st_size != file.bytes:
                return False
            hashing = HashingSink()
            buffer = bytearray(chunk_size)
            while n := fh.readinto(buffer):
                hashing.write(memoryview(buffer)[:n])
    except (OSError, UnsupportedEntryError):
        return False
    return hashing.digest().hexdigest == file.sha256


def _discard(_: memoryview) -> None:
    return None


def _check_declared(actual: Digest, actual_size: int, expected: Digest, size: int) -> None:
    if actual_size != size or actual.hexdigest != expected.hexdigest:
        raise ConflictError(
            f"the bytes received ({actual_size} bytes, {actual}) are not the ones declared "
            f"({size} bytes, {expected})"
        )


class BlobWriter:
    """Streamed bytes: kept in memory up to ``inline_max``, then spilled to a blob sink."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self._buffer: bytearray | None = bytearray()
        self._sink: BlobSink | None = None
        self._hashing = HashingSink()
        self._done = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise StorageError("the writer is closed")
        self._hashing.write(data)
        if self._sink is not None:
            self._sink.write(data)
            return
        assert self._buffer is not None
        self._buffer += data
        if len(self._buffer) > self._store.settings.inline_max:
            self._sink = self._store.blobs.open_sink()
            buffered, self._buffer = self._buffer, None
            self._sink.write(buffered)

    @property
    def size(self) -> int:
        return self._hashing.size

    def finish(self) -> StoredBlob:
        self._done = True
        digest = self._hashing.digest()
        if self._sink is None:
            assert self._buffer is not None
            return StoredBlob(digest=digest, size=self._hashing.size, inline=bytes(self._buffer))
        try:
            self._sink.commit(digest)
        except BaseException:
            self._sink.abort()
            raise
        return StoredBlob(digest=digest, size=self._hashing.size)

    def abort(self) -> None:
        self._done = True
        self._buffer = None
        if self._sink is not None:
            self._sink.abort()


def index_url_of(settings: Settings) -> str:
    """The index URL ``settings`` name: theirs, else the SQLite file in a local store, or in
    the local home for a store in a bucket."""
    if settings.index is not None:
        return settings.index
    store_url = settings.store or str(settings.home)
    root = local_root_of(store_url)
    if root is not None:
        return f"sqlite:///{root.expanduser().resolve() / 'index.db'}"
    if store_url.startswith("s3://"):
        # Blobs in a bucket, the index in the local home: one machine's view until an
        # index URL (PostgreSQL) is given, as with a directory store.
        settings.home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{settings.home.expanduser().resolve() / 'index.db'}"
    raise ConfigError(f"the store {store_url!r} is not a directory: give an index URL")


class ArtifactStore:
    """A blob store and an index, plus the local working directory (staging, copies)."""

    def __init__(self, blobs: BlobStore, index: Index, settings: Settings, home: Path) -> None:
        self.blobs = blobs
        self.index = index
        self.settings = settings
        self.home = home
        self.staging_dir = home / "staging"
        self.local_dir = home / "local"
        for directory in (self.staging_dir, self.local_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._committer: GroupCommitter[ArtifactWrite] = GroupCommitter(self._commit_writes)
        self._hash_cache = _HashCache()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings) -> ArtifactStore:
        """Open the store and index named by ``settings`` (creating them if new)."""
        store_url = settings.store or str(settings.home)
        root = local_root_of(store_url)
        index_url = index_url_of(settings)
        blobs = open_blob_store(store_url)
        try:
            index = open_index(index_url)
        except BaseException:
            blobs.close()
            raise
        home = root.expanduser().resolve() if root is not None else settings.home
        return cls(blobs, index, settings, home)

    @property
    def executor(self) -> ThreadPoolExecutor:
        """Threads for blocking I/O under the async API (created on first use)."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.settings.io_threads, thread_name_prefix="satchel-io"
                )
            return self._executor

    # -- writing blobs ------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Make bytes ready to commit: inline when small, else a durable blob."""
        if len(data) <= self.settings.inline_max:
            return StoredBlob(digest=digest_bytes(data), size=len(data), inline=bytes(data))
        writer = self.blob_writer()
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def blob_writer(self) -> BlobWriter:
        """A streaming writer (the facade's ``writer()``)."""
        return BlobWriter(self)

    def put_file(
        self,
        path: str | os.PathLike[str],
        *,
        follow_symlinks: bool = True,
        on_progress: Callable[[int], None] | None = None,
    ) -> StoredBlob:
        """Store a regular file's bytes, hashing while copying; the source is not changed."""
        with open_regular_file(path, follow_symlinks=follow_symlinks) as source:
            return self._put_open_file(source, on_progress)

    def take_file(
        self, path: Path, expected: Digest, size: int, *, hashed: Digest | None = None
    ) -> StoredBlob:
        """Store a file that must hold ``size`` bytes hashing to ``expected``; the file is
        handed over (a local store moves it in rather than copying it).

        For bytes a client declared before sending them (the server's uploads): nothing
        is published unless they match; otherwise ``ConflictError`` says what they hash to.
        ``hashed`` is the file's SHA-256 when the caller computed it as it wrote the file
        (the server's staged uploads), which spares reading it again here.
        """
        with open_regular_file(path, follow_symlinks=False) as source:
            on_disk = os.fstat(source.fileno()).st_size
            if on_disk <= self.settings.inline_max:
                data = source.read(self.settings.inline_max + 1) or b""
                _check_declared(digest_bytes(data), len(data), expected, size)
                return StoredBlob(digest=expected, size=size, inline=data)
            if isinstance(self.blobs, FileAdoption | DigestFirstUpload):
                if hashed is None:
                    hashed, on_disk = copy_and_hash(
                        source, _discard, chunk_size=self.settings.chunk_size
                    )
                _check_declared(hashed, on_disk, expected, size)
                if isinstance(self.blobs, DigestFirstUpload):
                    source.seek(0)
                    self.blobs.put_verified(source, expected, size)
                    return StoredBlob(digest=expected, size=size)
                try:
                    self.blobs.adopt_file(path, expected)
                    return StoredBlob(digest=expected, size=size)
                except StorageError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                source.seek(0)  # another file system: copy it after all
            sink = self.blobs.open_sink()
            try:
                digest, read = copy_and_hash(
                    source, sink.write, chunk_size=self.settings.chunk_size
                )
                _check_declared(digest, read, expected, size)
                sink.commit(expected)
            except BaseException:
                sink.abort()
                raise
            return StoredBlob(digest=expected, size=size)

    def _put_open_file(
        self, source: FileIO, on_progress: Callable[[int], None] | None
    ) -> StoredBlob:
        before = os.fstat(source.fileno())
        inline_max = self.settings.inline_max
        if before.st_size <= inline_max:
            head = source.read(inline_max + 1) or b""
            if len(head) <= inline_max:
                return StoredBlob(digest=digest_bytes(head), size=len(head), inline=head)
        else:
            cached = self._hash_cache.lookup(before)
            if cached is not None and self.blobs.stat(cached) == before.st_size:
                return StoredBlob(digest=cached, size=before.st_size)
            if isinstance(self.blobs, DigestFirstUpload):
                return self._put_digest_first(source, before, cached, on_progress)
            head = b""
        started = time.time_ns()
        sink = self.blobs.open_sink()
        try:
            digest, size = copy_and_hash(
                source,
                sink.write,
                prefix=head,
                chunk_size=self.settings.chunk_size,
                on_chunk=on_progress,
            )
            sink.commit(digest)
        except BaseException:
            sink.abort()
            raise
        self._hash_cache.record(before, os.fstat(source.fileno()), started, digest)
        return StoredBlob(digest=digest, size=size)

    def _put_digest_first(
        self,
        source: FileIO,
        before: os.stat_result,
        cached: Digest | None,
        on_progress: Callable[[int], None] | None,
    ) -> StoredBlob:
        """Hash the file, then upload it once straight to its key (object stores).

        An object store cannot rename a temporary object into place, so a streamed blob
        costs an upload plus a server-side copy; hashing a local file first is far cheaper.
        The store hashes the bytes again while uploading and publishes nothing if the file
        changed in between.
        """
        digest = cached
        if digest is None:
            started = time.time_ns()
            source.seek(0)
            digest, _ = copy_and_hash(source, _discard, chunk_size=self.settings.chunk_size)
            self._hash_cache.record(before, os.fstat(source.fileno()), started, digest)
        source.seek(0)
        assert isinstance(self.blobs, DigestFirstUpload)
        self.blobs.put_verified(source, digest, before.st_size, on_progress=on_progress)
        return StoredBlob(digest=digest, size=before.st_size)

    # -- committing ---------------------------------------------------------------------

    def submit(self, write: ArtifactWrite) -> Future[None]:
        """Queue an artifact for the next group commit; the future resolves when durable."""
        return self._committer.submit(write)

    def submit_async(self, write: ArtifactWrite) -> asyncio.Future[None]:
        """``submit`` for async callers: await the returned future on the running loop."""
        return self._committer.submit_async(write)

    def commit(self, write: ArtifactWrite) -> None:
        """Commit one artifact and wait until it is durable."""
        self._committer.run(write)

    def _commit_writes(self, writes: Sequence[ArtifactWrite]) -> None:
        try:
            self.index.commit_writes(writes)
        except BlobCollectedError as exc:
            self._commit_after_collection(writes, exc.digests)

    def _commit_after_collection(
        self, writes: Sequence[ArtifactWrite], digests: Sequence[str]
    ) -> None:
        """A collection recorded blobs these writes reference as deleted. With no
        collection under way (the lock, shared), look: a blob stored again (a save wrote
        it since, or the collector died before removing it) commits; a missing one fails
        the save (``satchel.index.collect``)."""
        index = self._collection()
        confirmed: set[str] = set()
        with index.collection_lock(shared=True):
            while True:
                missing = [d for d in digests if self.blobs.stat(Digest(hexdigest=d)) is None]
                if missing:
                    raise BlobCollectedError(
                        f"blob {missing[0]} was removed by a collection (satchel gc, or a "
                        "delete) while this save was in flight; nothing was saved: save again",
                        digests=tuple(missing),
                    )
                confirmed.update(digests)
                try:
                    self.index.commit_writes(writes, confirmed=confirmed)
                except BlobCollectedError as again:  # recorded before the lock was ours
                    digests = again.digests
                else:
                    return

    # -- reading ------------------------------------------------------------------------

    def get(self, artifact_id: str, *, reader: Reader | None = None) -> Artifact | None:
        """One completed artifact; None when missing or when ``reader`` may not read it."""
        return self.index.get(artifact_id, reader=reader)

    def query(self, query: ArtifactQuery) -> list[Artifact]:
        return self.index.query(query)

    def inline_bytes(self, file: ArtifactFile, *, what: str) -> bytes | None:
        """A small file's verified bytes when the index keeps them inline, else None."""
        if file.bytes > INLINE_LOOKUP_MAX:
            return None
        data = self.index.inline_blob(file.sha256)
        if data is None:
            return None
        if len(data) != file.bytes:
            raise IntegrityError(
                f"integrity check failed for {what}: {len(data)} bytes "
                f"stored, {file.bytes} recorded"
            )
        verify(Digest(hexdigest=file.sha256), digest_bytes(data), what=what)
        return data

    def _stream_verified(
        self, file: ArtifactFile, write: Callable[[memoryview], object], what: str
    ) -> None:
        """Stream a file's stored bytes to ``write``, then verify size and SHA-256.

        Raises ``IntegrityError`` after the last chunk when the bytes do not match; callers
        write to a temporary place and only publish after this returns.
        """
        expected = Digest(hexdigest=file.sha256)
        data = self.inline_bytes(file, what=what)
        if data is not None:
            write(memoryview(data))
            return
        hashing = HashingSink()
        buffer = bytearray(self.settings.chunk_size)
        try:
            reader = self.blobs.open_read(expected)
        except NotFoundError as exc:
            raise IntegrityError(
                f"integrity check failed for {what}: its blob {expected} is missing from the store"
            ) from exc
        with reader:
            while n := reader.readinto(buffer):
                if hashing.size + n > file.bytes:
                    raise IntegrityError(
                        f"integrity check failed for {what}: more than the recorded "
                        f"{file.bytes} bytes are stored"
                    )
                chunk = memoryview(buffer)[:n]
                hashing.write(chunk)
                write(chunk)
        if hashing.size != file.bytes:
            raise IntegrityError(
                f"integrity check failed for {what}: {hashing.size} bytes "
                f"stored, {file.bytes} recorded"
            )
        verify(expected, hashing.digest(), what=what)

    def verify_file(self, file: ArtifactFile, *, what: str) -> None:
        """Read a file's stored bytes through and check them (``fsck --read-data``):
        ``IntegrityError`` when they are missing or not the recorded size and SHA-256."""
        self._stream_verified(file, _discard, what)

    def read_file(self, file: ArtifactFile, *, what: str) -> bytes:
        """The verified bytes of one file."""
        out = bytearray()
        self._stream_verified(file, out.extend, what)
        return bytes(out)

    def materialise(self, file: ArtifactFile, dest: Path, *, what: str) -> None:
        """Write a verified copy of ``file`` at ``dest`` (temp file, then rename)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.parent / f".{new_id()}.part"
        try:
            with FileIO(temp, "wb") as out:
                self._stream_verified(file, out.write, what)
            os.replace(temp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise

    def local_copy_matches(self, file: ArtifactFile, path: Path) -> bool:
        """True when ``path`` is a regular file holding exactly ``file``'s bytes."""
        return local_copy_matches(file, path, chunk_size=self.settings.chunk_size)

    # -- runs and lineage ---------------------------------------------------------------

    def get_run(self, run_id: str) -> Run | None:
        return self.index.get_run(run_id)

    def set_run_status(self, run_id: str, status: RunStatus, *, ended_at: str | None) -> bool:
        return self.index.set_run_status(run_id, status, ended_at=ended_at)

    def add_occurrences(self, items: Sequence[Occurrence]) -> None:
        self.index.add_occurrences(items)

    def list_runs(self, query: RunQuery) -> list[Run]:
        return self.index.list_runs(query)

    # -- deleting -----------------------------------------------------------------------

    def delete_artifact(self, artifact_id: str) -> list[str]:
        """Delete an artifact (``Index.delete_artifact``), then the blobs only it used.

        The index commits first: a crash before the blobs go leaves unreferenced blobs
        (garbage for ``gc``), never an artifact whose blob is missing.

        Returns:
            The digests of the blobs removed from the blob store.

        Raises:
            NotFoundError: no such artifact.
            ConflictError: its run is still running.
        """
        return self.collect_blobs(self.index.delete_artifact(artifact_id))

    def delete_run(self, run_id: str) -> list[str]:
        """Delete a run, its child runs and all their artifacts, then the blobs only they
        used (as ``delete_artifact``)."""
        return self.collect_blobs(self.index.delete_run(run_id))

    def _collection(self) -> BlobCollection:
        if not isinstance(self.index, BlobCollection):
            raise ConfigError(f"the index at {self.index.url} cannot collect blobs")
        return self.index

    def collect_blobs(self, candidates: Sequence[str], *, now: datetime | None = None) -> list[str]:
        """Remove the blobs of ``candidates`` that no file row references, never one a
        save in flight found stored (``satchel.index.collect``); returns the digests of the
        blobs removed. A crash part way leaves unreferenced blobs, never a reference to a
        missing one."""
        if not candidates:
            return []
        index = self._collection()
        with index.collection_lock(shared=False):
            at = format_time(now or datetime.now(UTC))
            doomed = index.doom_blobs(candidates, deleted_at=at)
            _faults.point("collect.recorded")
            return [d for d, gone in zip(doomed, self._delete_blobs(doomed), strict=True) if gone]

    def _delete_blobs(self, hexdigests: Sequence[str]) -> list[bool]:
        """Delete blobs, up to ``_DELETE_THREADS`` at a time (each delete of a local blob
        waits for its directory's fsync, a removal from a bucket for a round trip); returns
        whether each was there. Every delete has ended when it returns, failed or not: the
        caller holds the collection lock for exactly that long."""
        digests = [Digest(hexdigest=d) for d in hexdigests]

        def delete(digest: Digest) -> bool:
            gone = self.blobs.delete(digest)
            if gone:
                _faults.point("collect.removing")
            return gone

        if len(digests) <= 1:
            return [delete(d) for d in digests]
        with ThreadPoolExecutor(
            max_workers=min(_DELETE_THREADS, len(digests)), thread_name_prefix="satchel-gc"
        ) as pool:
            futures = [pool.submit(delete, d) for d in digests]
            wait(futures)
        return [f.result() for f in futures]

    def close(self) -> None:
        """Finish pending commits, then release threads, connections and handles."""
        self._committer.close()
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
        self.index.close()
        self.blobs.close()
