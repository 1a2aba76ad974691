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
  failed on the network, or was interrupted (``KeyboardInterrupt``), keeps it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from satchel.errors import NetworkError
from satchel.models import new_id

__all__ = ["Claim", "Journal"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The artifact id a save uses, and whether an earlier try of it left that id."""

    artifact_id: str
    resumed: bool


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
            claim = _read(fd) or _write(fd, new_id())
            try:
                yield claim
            except NetworkError:
                raise  # resumable: keep the record
            except Exception:
                path.unlink(missing_ok=True)  # refused for good: a retry is a new save
                raise
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _read(fd: int) -> Claim | None:
    raw = os.pread(fd, 4096, 0)
    try:
        artifact_id = json.loads(raw)["artifact_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return Claim(str(artifact_id), resumed=True) if isinstance(artifact_id, str) else None


def _write(fd: int, artifact_id: str) -> Claim:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"artifact_id": artifact_id}).encode(), 0)
    os.fsync(fd)
    return Claim(artifact_id, resumed=False)
