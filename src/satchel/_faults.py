"""Named crash and fault points on the save path, for the crash-matrix tests.

Production code calls ``point("blob.fsynced")`` at each named step; it does nothing unless a
test installed a hook (for example one that SIGKILLs the process at a chosen step). Nothing
here reads the environment: a test that needs the hook in a server or ``satchel run``
process starts that process through a launcher of its own that installs it
(``tests/reliability/_launch.py``).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["POINTS", "point", "set_hook"]

POINTS = (
    "blob.chunk_written",  # mid blob write: after the first chunk, before the rest
    "blob.fsynced",  # blob complete and fsynced under its temp name, not yet renamed
    "blob.committed",  # blob renamed into place and directory fsynced; index not committed
    "dir.file_stored",  # directory ingest: after the first file's blob, before the others
    "index.before_commit",  # rows written in the open transaction, not yet committed
    "index.committed",  # index committed; the save has not returned yet
    # The server's uploads (``satchel serve``):
    "upload.part_staged",  # a chunk's bytes fsynced and acknowledged in staging; no answer yet
    "upload.staged_complete",  # every byte of a file staged, before its blob is published
    "upload.published",  # the file's blob in place, before the index marks the file completed
    "upload.completed",  # the index marks the file completed; staging not yet cleared
    "parts.joined",  # S3 multipart upload completed to a temporary object, not yet verified
    # ``satchel run``'s capture:
    "capture.journaled",  # a version journalled closed; its upload not started
    "capture.stored",  # a version saved (artifact committed), not yet journalled uploaded
    "capture.uploaded",  # a version journalled uploaded
    "capture.status",  # the run's final status written, the journal not yet finished
    # ``satchel gc`` and deletes, removing blobs:
    "collect.recorded",  # deletions recorded and committed, no blob removed yet
    "collect.removing",  # the first blob of a batch removed, the others not yet
    "gc.rows_deleted",  # a batch of expired or abandoned artifacts deleted, blobs not yet
)

_hook: Callable[[str], None] | None = None


def set_hook(hook: Callable[[str], None] | None) -> None:
    """Install (or remove, with None) the function called at every named point."""
    global _hook  # noqa: PLW0603 - one process-wide test hook by design
    _hook = hook


def point(name: str) -> None:
    """Mark a named step; calls the installed hook, if any."""
    if _hook is not None:
        _hook(name)
