"""Verified downloads: streamed, hashed as they arrive, checked before anyone sees them.

A file goes to a temporary name next to its destination and is renamed into place only
once its size and SHA-256 match the artifact's record, so a mismatch raises
``IntegrityError`` and leaves no wrong bytes behind. The server holds back a file's last
chunk until its own check passes and cuts the connection otherwise: a body cut short
(again after a retry that resumes with ``Range``) is therefore an ``IntegrityError`` too,
while a server that cannot be reached at all is a ``NetworkError``.
"""

from __future__ import annotations

import contextlib
import os
import time
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


class _Target(Protocol):
    def write(self, data: bytes) -> None: ...

    def reset(self) -> None: ...


class _Memory:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def reset(self) -> None:
        self.data.clear()


class _File:
    def __init__(self, out: FileIO) -> None:
        self._out = out

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._out.write(view) or 0 :]

    def reset(self) -> None:
        self._out.seek(0)
        self._out.truncate()


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
                    for piece in response.iter_bytes():
                        if hashing.size + len(piece) > file.bytes:
                            raise IntegrityError(
                                f"integrity check failed for {what}: the server sent more "
                                f"than the recorded {file.bytes} bytes"
                            )
                        hashing.write(piece)
                        target.write(piece)
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
