"""Uploads in progress: each file's bytes so far, durable chunk by chunk.

A file being uploaded has two files in the staging directory, named after the artifact id
and the SHA-256 of the file key (input never becomes a path):

* ``<key>.part``: the bytes received, in order;
* ``<key>.ack``: how many of them are acknowledged, 8 bytes, written after the part file
  was fsynced, then 16 bytes naming the chunk that wrote them last. ``received`` is the
  number: after a crash of anything the upload resumes from it, and bytes past it (a torn
  chunk) are cut off by the next write.

A chunk takes an exclusive ``flock`` on the part file for its whole write, so one upload of
a file runs at a time, across processes that share the directory; a second gets
``BusyError`` (``busy``, 409) at once. Bytes go to disk in pieces of at most ``PIECE``
bytes, so memory stays bounded whatever the chunk size: a worker thread writes (and
hashes) one piece while the request's next piece arrives.

The SHA-256 of a file is computed as its bytes arrive: each process keeps the hash state
of the uploads it wrote last (``_Hashes``), so the chunk that completes a file needs no
second read of it. The state is used only when the ``.ack`` file still names the chunk
that left it; a chunk written by another process (replicas share the directory), a rewind
or a restart in between means the file is hashed from disk at the end instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import anyio.to_thread
from starlette.requests import ClientDisconnect

from satchel import _faults
from satchel.errors import BusyError, ConflictError, StorageError, ValidationError
from satchel.hashing import Digest
from satchel.server.errors import ApiError

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["PIECE", "Chunk", "Staging"]

#: Bytes gathered before one write to disk.
PIECE: Final = 1024 * 1024
#: Hash states kept per process (uploads in progress at once; the oldest go first).
HASHES_KEPT: Final = 256
_POSITION: Final = 8
_WRITER: Final = 16
_ARTIFACT_ID: Final = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(slots=True)
class Chunk:
    """The outcome of one chunk: bytes now acknowledged, bytes this request sent, and
    whether the client went away before the end (what arrived is kept all the same)."""

    received: int
    sent: int
    disconnected: bool = False


def _storage_error(action: str, exc: OSError) -> StorageError:
    return StorageError(f"{action} failed: {exc.strerror or exc}", exc.errno)


@dataclass(frozen=True, slots=True)
class _Ack:
    """What a part file's ``.ack`` says: bytes acknowledged, and the chunk that wrote last."""

    position: int
    writer: bytes


@dataclass(frozen=True, slots=True)
class _State:
    hasher: _Hash
    ack: _Ack


class _Hashes:
    """The SHA-256 states of the uploads this process wrote last, by part file."""

    def __init__(self, kept: int = HASHES_KEPT) -> None:
        self._kept = kept
        self._states: OrderedDict[Path, _State] = OrderedDict()
        self._lock = threading.Lock()

    def resume(self, part: Path, ack: _Ack, offset: int) -> _Hash | None:
        """The hash of the part file's first ``offset`` bytes, if this process knows it."""
        if offset == 0:
            return hashlib.sha256()
        with self._lock:
            state = self._states.get(part)
        if state is None or state.ack != ack or ack.position != offset:
            return None
        return state.hasher.copy()

    def keep(self, part: Path, hasher: _Hash, ack: _Ack) -> None:
        with self._lock:
            self._states[part] = _State(hasher, ack)
            self._states.move_to_end(part)
            while len(self._states) > self._kept:
                self._states.popitem(last=False)

    def digest(self, part: Path, ack: _Ack) -> Digest | None:
        with self._lock:
            state = self._states.get(part)
        if state is None or state.ack != ack:
            return None
        return Digest(hexdigest=state.hasher.hexdigest())

    def forget(self, part: Path) -> None:
        with self._lock:
            self._states.pop(part, None)


class _Writer:
    """Writes a chunk's pieces at their positions, hashing them on the way (in a thread)."""

    def __init__(self, fd: int, position: int, hasher: _Hash | None) -> None:
        self.fd = fd
        self.position = position
        self.hasher = hasher

    def write(self, data: bytearray) -> None:
        view = memoryview(data)
        if self.hasher is not None:
            self.hasher.update(view)
        while view:
            written = os.pwrite(self.fd, view, self.position)
            view = view[written:]
            self.position += written


class Staging:
    """The staging directory of uploads in progress."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _storage_error(f"creating the upload directory {root}", exc) from exc
        #: Bytes every chunk request brought, in total (for tests and monitoring).
        self.bytes_received = 0
        self._hashes = _Hashes()

    def _dir(self, artifact_id: str) -> Path:
        if not _ARTIFACT_ID.fullmatch(artifact_id):
            raise ValidationError(f"not an artifact id: {artifact_id!r}")
        return self.root / artifact_id

    def part_path(self, artifact_id: str, path: str) -> Path:
        """Where the bytes of one file are staged."""
        key = hashlib.sha256(path.encode("utf-8")).hexdigest()
        return self._dir(artifact_id) / f"{key}.part"

    def received(self, artifact_id: str, path: str) -> int:
        """How many bytes of the file are acknowledged (0 when none)."""
        return self._ack(self.part_path(artifact_id, path)).position

    @staticmethod
    def _ack(part: Path) -> _Ack:
        try:
            data = part.with_suffix(".ack").read_bytes()
            size = part.stat().st_size
        except FileNotFoundError:
            return _Ack(0, b"")
        except OSError as exc:
            raise _storage_error("reading an upload's state", exc) from exc
        if len(data) not in (_POSITION, _POSITION + _WRITER):
            return _Ack(0, b"")
        position = min(int.from_bytes(data[:_POSITION], "big"), size)
        return _Ack(position, data[_POSITION:])

    def digest(self, artifact_id: str, path: str) -> Digest | None:
        """The SHA-256 of the acknowledged bytes, when this process hashed them as they
        arrived (None: hash the part file). Call it holding the file's lock."""
        part = self.part_path(artifact_id, path)
        return self._hashes.digest(part, self._ack(part))

    @contextlib.contextmanager
    def locked(self, artifact_id: str, path: str) -> Iterator[int]:
        """The part file, open and exclusively locked (``BusyError`` when busy)."""
        with self.try_locked(artifact_id, path) as fd:
            if fd is None:
                raise BusyError(f"another upload of {path!r} is in progress; retry when it ended")
            yield fd

    @contextlib.contextmanager
    def try_locked(self, artifact_id: str, path: str) -> Iterator[int | None]:
        """The part file, open and exclusively locked; None when another holds the lock."""
        part = self.part_path(artifact_id, path)
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise _storage_error("opening an upload", exc) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
            else:
                yield fd
        finally:
            os.close(fd)

    def _acknowledge(self, artifact_id: str, path: str, position: int) -> _Ack:
        """Record ``position`` bytes as acknowledged, by a new writer; returns the record."""
        ack = _Ack(position, secrets.token_bytes(_WRITER))
        name = self.part_path(artifact_id, path).with_suffix(".ack")
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, position.to_bytes(_POSITION, "big") + ack.writer, 0)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        return ack

    def _start(self, fd: int, artifact_id: str, path: str, offset: int) -> _Hash | None:
        """Check ``offset``, cut what lies past it; the hash of the bytes before it, if known."""
        part = self.part_path(artifact_id, path)
        ack = self._ack(part)
        if offset > ack.position:
            raise ConflictError(
                f"the upload of {path!r} has {ack.position} bytes; send the bytes from "
                f"offset {ack.position}"
            )
        hasher = self._hashes.resume(part, ack, offset)
        if offset < ack.position:
            # Rewind: acknowledge less first, so a crash cannot claim bytes about to change.
            self._hashes.forget(part)
            self._acknowledge(artifact_id, path, offset)
        os.ftruncate(fd, offset)
        return hasher

    def _end(self, fd: int, artifact_id: str, path: str, writer: _Writer) -> None:
        os.fsync(fd)
        ack = self._acknowledge(artifact_id, path, writer.position)
        part = self.part_path(artifact_id, path)
        if writer.hasher is None:
            self._hashes.forget(part)
        else:
            self._hashes.keep(part, writer.hasher, ack)
        _faults.point("upload.part_staged")

    async def write_chunk(
        self,
        artifact_id: str,
        path: str,
        *,
        offset: int,
        size: int,
        body: AsyncIterator[bytes],
    ) -> Chunk:
        """Append the bytes of ``body`` at ``offset``, fsync them, acknowledge them.

        The bytes that arrived before a dropped connection are kept and acknowledged too;
        more bytes than the file's ``size`` are refused (``too_large``) and dropped.
        """
        with self.locked(artifact_id, path) as fd:
            try:
                hasher = await anyio.to_thread.run_sync(self._start, fd, artifact_id, path, offset)
            except OSError as exc:  # a failed cut or rewind: an error with its errno, not a 500
                raise _storage_error("writing an upload", exc) from exc
            writer = _Writer(fd, offset, hasher)
            loop = asyncio.get_running_loop()
            # The piece being written while the next one arrives (None: nothing in flight).
            flushing: asyncio.Future[None] | None = None
            sent = 0
            buffer = bytearray()
            disconnected = False
            try:
                try:
                    async for piece in body:
                        sent += len(piece)
                        self.bytes_received += len(piece)
                        if offset + sent > size:
                            raise ApiError(
                                "too_large",
                                f"more bytes than the {size} of {path!r}; nothing of this "
                                f"chunk was kept (send from offset {offset})",
                            )
                        buffer += piece
                        if len(buffer) >= PIECE:
                            if flushing is not None:
                                await flushing
                            flushing = loop.run_in_executor(None, writer.write, buffer)
                            buffer = bytearray()
                except ClientDisconnect:  # keep what arrived before it
                    disconnected = True
                except BaseException:
                    if flushing is not None:  # no write may land after the cut below
                        await asyncio.wait([flushing])
                        if not flushing.cancelled():
                            flushing.exception()  # reported by what is raised here
                    os.ftruncate(fd, offset)
                    raise
                if flushing is not None:
                    await flushing
                if buffer:
                    await anyio.to_thread.run_sync(writer.write, buffer)
                await anyio.to_thread.run_sync(self._end, fd, artifact_id, path, writer)
            except OSError as exc:
                raise _storage_error("writing an upload", exc) from exc
            return Chunk(received=writer.position, sent=sent, disconnected=disconnected)

    def drop(self, artifact_id: str, path: str) -> None:
        """Forget a file's staged bytes (after it completed, or failed its check)."""
        part = self.part_path(artifact_id, path)
        self._hashes.forget(part)
        for name in (part.with_suffix(".ack"), part):
            with contextlib.suppress(FileNotFoundError):
                name.unlink()

    def drop_artifact(self, artifact_id: str) -> None:
        """Forget every staged file of an artifact (it completed, or was deleted)."""
        shutil.rmtree(self._dir(artifact_id), ignore_errors=True)

    def sweep(
        self, *, uploading: Callable[[str], bool], older_than: timedelta, dry_run: bool = False
    ) -> tuple[int, int]:
        """Remove the staged files of artifacts no longer ``uploading`` (completed while
        a server died before dropping them, deleted, or collected as abandoned), not
        written for ``older_than``; returns how many artifacts' files, and their bytes."""
        cutoff = time.time() - older_than.total_seconds()
        count = size = 0
        for entry in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if not entry.is_dir() or not _ARTIFACT_ID.fullmatch(entry.name):
                continue  # not an upload's directory: not ours to touch
            files = [f for f in entry.iterdir() if f.is_file() and not f.is_symlink()]
            stats = [f.stat() for f in files]
            if any(st.st_mtime > cutoff for st in stats) or uploading(entry.name):
                continue
            if not dry_run:
                shutil.rmtree(entry, ignore_errors=True)
            count += 1
            size += sum(st.st_size for st in stats)
        return count, size
