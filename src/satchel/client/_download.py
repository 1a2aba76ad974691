"""Verified downloads: streamed, hashed as they arrive, checked before anyone sees them.

A file goes to a temporary name next to its destination and is renamed into place only
once its size and SHA-256 match the artifact's record, so a mismatch raises
``IntegrityError`` and leaves no wrong bytes behind. The server holds back a file's last
chunk until its own check passes and cuts the connection otherwise: a body cut short
(again after a retry that resumes with ``Range``) is therefore an ``IntegrityError`` too,
while a server that cannot be reached at all is a ``NetworkError``.

A large file is hashed and written by a worker thread one batch (``BATCH``) behind the
socket, so receiving, hashing and writing overlap (hashing and file writes release the
GIL); memory stays at about two batches.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from io import FileIO
from pathlib import Path
from typing import Final, Protocol

import httpx

from satchel.client._api import _BACKOFF, Api, file_url
from satchel.errors import IntegrityError
from satchel.hashing import Digest, HashingSink, verify
from satchel.models import ArtifactFile, new_id

__all__ = ["Downloader"]

#: Tries of one download; each after the first resumes where the previous one stopped.
ATTEMPTS: Final = 3
#: Bytes handed to the worker thread at once (files up to this size need no thread).
BATCH: Final = 1024 * 1024


class _Feed(Protocol):
    def __call__(self, piece: bytes, /) -> None: ...


class _Target(Protocol):
    def write(self, data: bytes | bytearray) -> None: ...

    def reset(self) -> None: ...


class _Memory:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes | bytearray) -> None:
        self.data += data

    def reset(self) -> None:
        self.data.clear()


class _File:
    def __init__(self, out: FileIO) -> None:
        self._out = out

    def write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            view = view[self._out.write(view) or 0 :]

    def reset(self) -> None:
        self._out.seek(0)
        self._out.truncate()


class _Pipeline:
    """Hashes and writes what arrives in a worker thread, one batch behind the reader."""

    def __init__(self, hashing: HashingSink, target: _Target) -> None:
        self._hashing = hashing
        self._target = target
        self._batch = bytearray()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="satchel-download")
        self._pending: Future[None] | None = None

    def _take(self, batch: bytearray) -> None:
        self._hashing.write(batch)
        self._target.write(batch)

    def feed(self, piece: bytes) -> None:
        self._batch += piece
        if len(self._batch) >= BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._take, self._batch)
        self._batch = bytearray()

    def finish(self) -> None:
        """Everything fed is hashed and written (raises what the worker raised)."""
        if self._batch:
            self._hand_over()
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def close(self) -> None:
        """Wait for the worker (whatever happened) and stop it."""
        self._pool.shutdown(wait=True)


@contextlib.contextmanager
def _receiving(hashing: HashingSink, target: _Target, size: int) -> Iterator[_Feed]:
    """Where the pieces of a response go: straight through, or through a ``_Pipeline``."""
    if size <= BATCH:

        def feed(piece: bytes) -> None:
            hashing.write(piece)
            target.write(piece)

        yield feed
        return
    pipeline = _Pipeline(hashing, target)
    try:
        yield pipeline.feed
        pipeline.finish()
    finally:
        pipeline.close()


class Downloader:
    """Downloads the files of one server's artifacts."""

    def __init__(self, api: Api) -> None:
        self._api = api

    def read(self, artifact_id: str, file: ArtifactFile) -> bytes:
        """A file's verified bytes."""
        target = _Memory()
        self._fetch(artifact_id, file, target)
        return bytes(target.data)

    def to_file(self, artifact_id: str, file: ArtifactFile, dest: Path) -> None:
        """A verified copy of a file at ``dest`` (a temporary name, then a rename)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        temp = dest.parent / f".{new_id()}.part"
        try:
            with FileIO(temp, "wb") as out:
                self._fetch(artifact_id, file, _File(out))
            os.replace(temp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise

    def _fetch(self, artifact_id: str, file: ArtifactFile, target: _Target) -> None:
        what = f"artifact {artifact_id} file {file.path!r}"
        url = file_url(artifact_id, file.path)
        hashing = HashingSink()
        unreachable: httpx.TransportError | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(_BACKOFF[attempt - 1])
            start = hashing.size
            headers = {"Range": f"bytes={start}-"} if start else {}
            try:
                with self._api.stream(url, headers=headers) as response:
                    _check_headers(response, file, what)
                    if start and response.status_code != 206:
                        hashing, start = HashingSink(), 0
                        target.reset()
                    received = start
                    with _receiving(hashing, target, file.bytes - start) as feed:
                        for piece in response.iter_bytes():
                            received += len(piece)
                            if received > file.bytes:
                                raise IntegrityError(
                                    f"integrity check failed for {what}: the server sent "
                                    f"more than the recorded {file.bytes} bytes"
                                )
                            feed(piece)
                unreachable = None
                break
            except httpx.RemoteProtocolError:
                unreachable = None  # reached, and cut short: the server refused its copy
            except httpx.TransportError as exc:
                unreachable = exc
        if unreachable is not None:
            raise self._api.network_error(unreachable) from unreachable
        if hashing.size != file.bytes:
            raise IntegrityError(
                f"integrity check failed for {what}: the download ended after {hashing.size} "
                f"of {file.bytes} bytes (the server cuts a file whose stored copy fails its "
                "check); nothing was kept"
            )
        verify(Digest(hexdigest=file.sha256), hashing.digest(), what=what)


def _check_headers(response: httpx.Response, file: ArtifactFile, what: str) -> None:
    announced = response.headers.get("X-Satchel-SHA256")
    if announced is not None and announced.lower() != file.sha256:
        raise IntegrityError(
            f"integrity check failed for {what}: the server sends sha256:{announced}, the "
            f"artifact records sha256:{file.sha256}"
        )
