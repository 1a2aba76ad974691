"""Read whole blobs and hash them, reading and hashing overlapped (``fsck --read-data``).

One thread reads blob after blob into a few reused buffers (``CHUNK`` bytes each, ``DEPTH``
in flight) while another hashes what was read: both release the GIL (file reads and
``hashlib`` on large buffers), so the two costs overlap instead of adding up, across blob
boundaries too. Memory is the buffers, whatever the blobs' sizes. The caller submits
``(digest, key)`` jobs and collects one ``BlobRead`` per job, in submission order.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, TypeVar

from satchel.errors import NotFoundError, SatchelError
from satchel.hashing import Digest
from satchel.storage.base import BlobStore

__all__ = ["BACKLOG", "CHUNK", "DEPTH", "BlobRead", "BlobReads"]

#: Bytes per read call (as a plain sequential reader's 1 MiB), and buffers in flight.
CHUNK: Final = 1024 * 1024
DEPTH: Final = 8
#: Jobs waiting to be read; ``submit`` blocks beyond this (bounded memory).
BACKLOG: Final = 64


@dataclass(frozen=True, slots=True)
class BlobRead:
    """What reading one blob through found.

    Attributes:
        key: the caller's key for the job.
        digest: the blob asked for.
        size: bytes read (None when it could not be opened or read).
        sha256: the hex SHA-256 of those bytes (None likewise).
        missing: True when the store has no such blob.
        error: the store's error, when reading failed otherwise.
    """

    key: str
    digest: Digest
    size: int | None = None
    sha256: str | None = None
    missing: bool = False
    error: SatchelError | None = None


@dataclass(frozen=True, slots=True)
class _Job:
    key: str
    digest: Digest


# What the reader hands the hasher: a blob's start (its job), one chunk (a buffer and how
# much of it was read), the blob's end (None), or a job that failed (its BlobRead).
_Item = _Job | tuple[bytearray, int] | BlobRead | object | None
#: Put by ``close`` to wake the hasher.
_CLOSED: Final = object()
_T = TypeVar("_T")
_Body = Callable[[], None]


class _StoppedError(Exception):
    """The reads were closed: a thread's wait ends."""


class BlobReads:
    """A reader thread and a hasher thread; use as a context manager.

    ``submit`` jobs, take finished ``done()`` results as they come, and ``drain()`` at the
    end. Leaving the block stops both threads (also on an error in the caller).
    """

    def __init__(self, blobs: BlobStore, *, chunk: int = CHUNK, depth: int = DEPTH) -> None:
        self._blobs = blobs
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=BACKLOG)
        self._items: queue.Queue[_Item] = queue.Queue(maxsize=depth)
        # Buffers are made as the reads need them (a small store needs few), up to a cap.
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._chunk = chunk
        self._buffers = depth + 2
        self._results: queue.Queue[BlobRead | BaseException] = queue.Queue()
        self._stop = threading.Event()
        self._submitted = 0
        self._collected = 0
        self._threads = [
            threading.Thread(target=self._guard, args=(self._read,), name="satchel-fsck-read"),
            threading.Thread(target=self._guard, args=(self._hash,), name="satchel-fsck-hash"),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def __enter__(self) -> BlobReads:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, digest: Digest, key: str) -> None:
        """Queue one blob to be read (blocks while ``BACKLOG`` jobs wait)."""
        try:
            self._put(self._jobs, _Job(key, digest))
        except _StoppedError:  # a thread failed: its error, not the stop, is the news
            while True:
                failure = self._results.get()
                if isinstance(failure, BaseException):
                    raise failure from None
        self._submitted += 1

    def done(self) -> Iterator[BlobRead]:
        """The results ready now, without waiting."""
        while self._collected < self._submitted:
            try:
                result = self._results.get_nowait()
            except queue.Empty:
                return
            yield self._take(result)

    def drain(self) -> Iterator[BlobRead]:
        """Every result still to come, waiting for each."""
        while self._collected < self._submitted:
            yield self._take(self._results.get())

    def close(self) -> None:
        self._stop.set()
        # Wake a thread waiting for work now rather than at its next poll.
        with contextlib.suppress(queue.Full):
            self._jobs.put_nowait(None)
        with contextlib.suppress(queue.Full):
            self._items.put_nowait(_CLOSED)
        for thread in self._threads:
            thread.join()

    def _take(self, result: BlobRead | BaseException) -> BlobRead:
        if isinstance(result, BaseException):
            raise result
        self._collected += 1
        return result

    def _put(self, target: queue.Queue[_T], item: _T) -> None:
        while not self._stop.is_set():
            try:
                target.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _StoppedError

    def _get(self, source: queue.Queue[_T]) -> _T:
        while not self._stop.is_set():
            try:
                return source.get(timeout=0.1)
            except queue.Empty:
                continue
        raise _StoppedError

    def _guard(self, body: _Body) -> None:
        try:
            body()
        except _StoppedError:
            return
        except BaseException as exc:  # reported to the caller, who stops the rest
            self._results.put(exc)
            self._stop.set()

    def _buffer(self) -> bytearray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._buffers:
                self._buffers -= 1
                return bytearray(self._chunk)
        return self._get(self._free)

    def _read(self) -> None:
        while True:
            job = self._get(self._jobs)
            if job is None:
                return
            try:
                reader = self._blobs.open_read(job.digest)
            except NotFoundError:
                self._put(self._items, BlobRead(job.key, job.digest, missing=True))
                continue
            except SatchelError as exc:
                self._put(self._items, BlobRead(job.key, job.digest, error=exc))
                continue
            self._put(self._items, job)
            try:
                with reader:
                    while True:
                        buffer = self._buffer()
                        n = reader.readinto(buffer)
                        if not n:
                            self._free.put(buffer)
                            break
                        self._put(self._items, (buffer, n))
            except NotFoundError:  # a store that finds out at the first read
                self._put(self._items, BlobRead(job.key, job.digest, missing=True))
                continue
            except SatchelError as exc:
                self._put(self._items, BlobRead(job.key, job.digest, error=exc))
                continue
            self._put(self._items, None)

    def _hash(self) -> None:
        job: _Job | None = None
        hasher = hashlib.sha256()
        size = 0
        while True:
            item = self._get(self._items)
            if item is _CLOSED:
                return
            if isinstance(item, _Job):
                job, hasher, size = item, hashlib.sha256(), 0
            elif isinstance(item, tuple):
                buffer, n = item
                hasher.update(memoryview(buffer)[:n])
                size += n
                self._free.put(buffer)
            elif isinstance(item, BlobRead):
                self._results.put(item)
                job = None
            else:
                assert job is not None
                self._results.put(BlobRead(job.key, job.digest, size, hasher.hexdigest()))
                job = None
