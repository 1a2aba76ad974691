"""Storing one captured version: stream the file into an artifact, or store nothing.

The file is read in fixed chunks into a ``writer()`` (memory stays at a chunk whatever the
size) and hashed on the way. Before the artifact is committed the file's size, mtime and
inode are compared with those it had when it was seen closed: a file written meanwhile is
not stored (the writer is aborted) but handed back to be seen closed again, so a torn mix
of two contents is never recorded.
"""

from __future__ import annotations

import os
import time
from pathlib import PurePosixPath
from typing import Final

from satchel import _faults
from satchel.capture.base import Reporter
from satchel.capture.journal import FileRow, Journal, Stamp
from satchel.capture.rules import kind_of
from satchel.errors import ArtifactIsDirectoryError, NotFoundError, UnsupportedEntryError
from satchel.facade import SyncArtifactFacade
from satchel.models import Artifact
from satchel.store import open_regular_file

__all__ = ["CHUNK", "LABEL_PATH", "LABEL_VERSION", "ChangedError", "find_stored", "store_version"]

CHUNK: Final = 8 * 1024 * 1024
LABEL_PATH: Final = "capture_path"
LABEL_VERSION: Final = "capture_version"


class ChangedError(Exception):
    """The file changed (or vanished) while it was being stored."""


def find_stored(arts: SyncArtifactFacade, row: FileRow) -> Artifact | None:
    """The artifact of ``row`` if a save of it completed (a save cut off by a kill)."""
    found = arts.list(
        level="run", filters={LABEL_PATH: row.rel, LABEL_VERSION: row.version}, limit=1
    )
    return found[0] if found else None


def store_version(
    arts: SyncArtifactFacade, journal: Journal, row: FileRow, reporter: Reporter
) -> Artifact:
    """Store ``row``'s file as version ``row.version`` of ``row.rel``.

    Raises:
        ChangedError: the file is not the one seen closed; nothing was stored, the row is
            ``closed`` again.
    """
    _faults.point("capture.journaled")
    journal.set_state(row, "uploading")
    started = time.monotonic()
    try:
        artifact = _stream(arts, row, reporter)
    except ChangedError:
        journal.set_state(row, "closed")
        raise
    except BaseException:
        journal.set_state(row, "closed")
        raise
    _faults.point("capture.stored")
    journal.set_state(row, "uploaded", artifact_id=artifact.artifact_id, sha256=artifact.sha256)
    _faults.point("capture.uploaded")
    reporter.synced(row.rel, row.version, row.stamp.size, time.monotonic() - started)
    return artifact


def _stream(arts: SyncArtifactFacade, row: FileRow, reporter: Reporter) -> Artifact:
    try:
        # A regular file only, never through a link: a file swapped for a FIFO or a link
        # since it was seen is a changed file, not one to block on or to follow.
        handle = open_regular_file(row.path, follow_symlinks=False)
    except (NotFoundError, UnsupportedEntryError, ArtifactIsDirectoryError) as exc:
        raise ChangedError(row.path) from exc
    with handle:
        if Stamp.of(os.fstat(handle.fileno())) != row.stamp:
            raise ChangedError(row.path)
        reporter.start(row.rel, row.version, row.stamp.size)
        labels = {LABEL_PATH: row.rel, LABEL_VERSION: row.version}
        with arts.writer(
            kind=kind_of(row.rel),
            name=row.rel,
            labels=labels,
            planned_ext=PurePosixPath(row.rel).suffix or None,
        ) as out:
            while chunk := handle.read(CHUNK):
                out.write(chunk)
                reporter.advance(len(chunk))
            try:
                now = Stamp.of(os.stat(row.path))
            except FileNotFoundError as exc:
                raise ChangedError(row.path) from exc
            if now != row.stamp or out.bytes_written != row.stamp.size:
                raise ChangedError(row.path)
    assert out.artifact is not None
    return out.artifact
