"""Uploads in progress: each file's bytes so far, durable chunk by chunk.

A file being uploaded has two files in the staging directory, named after the artifact id
and the SHA-256 of the file key (input never becomes a path):

* ``<key>.part``: the bytes received, in order;
* ``<key>.ack``: how many of them are acknowledged, 8 bytes, written after the part file
  was fsynced. ``received`` is this number: after a crash of anything the upload resumes
  from it, and bytes past it (a torn chunk) are cut off by the next write.

A chunk takes an exclusive ``flock`` on the part file for its whole write, so one upload of
a file runs at a time, across processes that share the directory; a second gets
``ConflictError`` at once. Bytes go to disk in pieces of at most ``PIECE`` bytes, so memory
stays bounded whatever the chunk size.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio.to_thread
from starlette.requests import ClientDisconnect

from satchel.errors import ConflictError, StorageError, ValidationError
from satchel.server.errors import ApiError

__all__ = ["PIECE", "Chunk", "Staging"]

#: Bytes gathered before one write to disk.
PIECE: Final = 1024 * 1024
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
        part = self.part_path(artifact_id, path)
        try:
            data = part.with_suffix(".ack").read_bytes()
            size = part.stat().st_size
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _storage_error("reading an upload's state", exc) from exc
        if len(data) != 8:
            return 0
        return min(int.from_bytes(data, "big"), size)

    @contextlib.contextmanager
    def locked(self, artifact_id: str, path: str) -> Iterator[int]:
        """The part file, open and exclusively locked (``ConflictError`` when busy)."""
        with self.try_locked(artifact_id, path) as fd:
            if fd is None:
                raise ConflictError(
                    f"another upload of {path!r} is in progress; retry when it ended"
                )
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

    def _acknowledge(self, artifact_id: str, path: str, position: int) -> None:
        ack = self.part_path(artifact_id, path).with_suffix(".ack")
        fd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.pwrite(fd, position.to_bytes(8, "big"), 0)
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _start(self, fd: int, artifact_id: str, path: str, offset: int) -> None:
        acked = self.received(artifact_id, path)
        if offset > acked:
            raise ConflictError(
                f"the upload of {path!r} has {acked} bytes; send the bytes from offset {acked}"
            )
        if offset < acked:
            # Rewind: acknowledge less first, so a crash cannot claim bytes about to change.
            self._acknowledge(artifact_id, path, offset)
        os.ftruncate(fd, offset)

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
            await anyio.to_thread.run_sync(self._start, fd, artifact_id, path, offset)
            position = offset
            sent = 0
            buffer = bytearray()
            disconnected = False

            def flush() -> None:
                nonlocal position
                view = memoryview(buffer)
                while view:
                    written = os.pwrite(fd, view, position)
                    view = view[written:]
                    position += written

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
                            await anyio.to_thread.run_sync(flush)
                            buffer.clear()
                except ApiError:
                    os.ftruncate(fd, offset)
                    raise
                except ClientDisconnect:  # keep what arrived before it
                    disconnected = True
                if buffer:
                    await anyio.to_thread.run_sync(flush)
                await anyio.to_thread.run_sync(os.fsync, fd)
                await anyio.to_thread.run_sync(self._acknowledge, artifact_id, path, position)
            except OSError as exc:
                raise _storage_error("writing an upload", exc) from exc
            return Chunk(received=position, sent=sent, disconnected=disconnected)

    def drop(self, artifact_id: str, path: str) -> None:
        """Forget a file's staged bytes (after it completed, or failed its check)."""
        part = self.part_path(artifact_id, path)
        for name in (part.with_suffix(".ack"), part):
            with contextlib.suppress(FileNotFoundError):
                name.unlink()

    def drop_artifact(self, artifact_id: str) -> None:
        """Forget every staged file of an artifact (it completed, or was deleted)."""
        shutil.rmtree(self._dir(artifact_id), ignore_errors=True)
