"""The resume journal: a save that a crash cut short resumes in the next process.

A save names its artifact with an id it makes itself (the server's idempotency key). That
id is written, before the create request, to a file named after everything the save sends
(server, user, metadata, file list and digests). The file is locked while the save runs
and removed when it ends, so:

* a process killed mid-upload leaves the file, unlocked; the same save run again finds it,
  sends the same id, gets the pending artifact back, asks the server how many bytes of
  each file arrived and sends only the rest (at most the one chunk that was cut);
* two saves of the same bytes at the same time are two artifacts: the second finds the
  file locked and takes a fresh id;
* a save that failed for good (a refusal, a checksum mismatch) removes its file; one that
  failed on the network, on a server whose disk is full (``InsufficientStorageError``:
  it resumes once space is freed), or was interrupted (``KeyboardInterrupt``), keeps it;
* a file sent in parts straight to the bucket (``_parts``) also records its upload token
  here, before the first part leaves, so the next process asks the server which parts the
  bucket holds and sends only the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from satchel.errors import InsufficientStorageError, NetworkError
from satchel.models import new_id

__all__ = ["Claim", "Journal"]


class Claim:
    """The artifact id a save uses, whether an earlier try of it left that id, and the
    multipart upload tokens of its files (by path), kept in the record as they change."""

    __slots__ = ("_fd", "artifact_id", "resumed", "uploads")

    def __init__(
        self,
        artifact_id: str,
        *,
        resumed: bool,
        uploads: dict[str, str] | None = None,
        fd: int | None = None,
    ) -> None:
        self.artifact_id = artifact_id
        self.resumed = resumed
        self.uploads: dict[str, str] = dict(uploads or {})
        self._fd = fd

    def remember_upload(self, path: str, token: str | None) -> None:
        """Record (or, with None, forget) the multipart upload of ``path``, durably."""
        if token is None:
            self.uploads.pop(path, None)
        else:
            self.uploads[path] = token
        if self._fd is not None:
            _write(self._fd, self.artifact_id, self.uploads)


class Journal:
    """Resume records in one directory (``<home>/remote/<server>/uploads``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def key_of(scope: str, request: dict[str, Any]) -> str:
        """The record name of a save: a digest of who sends what where."""
        canonical = json.dumps([scope, request], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[Claim]:
        """The id for a save, held for the duration of the ``with`` block."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{key}.json"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # The same save is running right now elsewhere: this one is another artifact.
                yield Claim(new_id(), resumed=False)
                return
            claim = _read(fd) or Claim(new_id(), resumed=False, fd=fd)
            if not claim.resumed:
                _write(fd, claim.artifact_id, {})
            try:
                yield claim
            except (NetworkError, InsufficientStorageError):
                raise  # resumable: keep the record
            except Exception:
                path.unlink(missing_ok=True)  # refused for good: a retry is a new save
                raise
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _read(fd: int) -> Claim | None:
    size = os.fstat(fd).st_size
    raw = os.pread(fd, max(size, 1), 0)
    try:
        record = json.loads(raw)
        artifact_id, uploads = record["artifact_id"], record.get("multipart", {})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(artifact_id, str) or not isinstance(uploads, dict):
        return None
    kept = {str(k): str(v) for k, v in uploads.items()}
    return Claim(artifact_id, resumed=True, uploads=kept, fd=fd)


def _write(fd: int, artifact_id: str, uploads: dict[str, str]) -> None:
    record: dict[str, object] = {"artifact_id": artifact_id}
    if uploads:
        record["multipart"] = uploads
    data = json.dumps(record).encode()
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))
    os.fsync(fd)
