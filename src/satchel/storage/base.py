"""The blob store seam: a Protocol and its optional abilities, no logic.

A blob store keeps bytes under their digest. Writes go through a sink: bytes are written
to a temporary place, and ``commit(digest)`` makes them durable and visible under the
digest's key atomically and only if absent (put-if-absent), so two writers of the same
bytes are both correct without a lock. Readers get raw bytes; verification against the
digest happens in the store layer above, on every read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from satchel.hashing import Digest

__all__ = ["BlobReader", "BlobSink", "BlobStore", "LocalBlobPaths"]


class BlobSink(Protocol):
    """A blob being written; exactly one of ``commit`` or ``abort`` ends it."""

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        """Append bytes; raises ``StorageError`` on an I/O failure (disk full...)."""

    def commit(self, digest: Digest) -> bool:
        """Make the bytes durable under ``digest``; True if stored now, False if present."""

    def abort(self) -> None:
        """Discard everything written; safe to call more than once."""


class BlobReader(Protocol):
    """Raw bytes of one blob, read in chunks."""

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        """Fill ``buffer``; returns the count, 0 at the end."""

    def close(self) -> None:
        """Release the underlying handle."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BlobStore(Protocol):
    """Bytes by digest."""

    @property
    def url(self) -> str:
        """The URL this store was opened from."""

    def open_sink(self) -> BlobSink:
        """Start writing a new blob."""

    def stat(self, digest: Digest) -> int | None:
        """The size of a stored blob, or None when absent."""

    def open_read(self, digest: Digest) -> BlobReader:
        """Read a blob; raises ``NotFoundError`` when absent."""

    def delete(self, digest: Digest) -> bool:
        """Remove a blob; True if it existed."""

    def iter_blobs(self) -> Iterator[tuple[Digest, int]]:
        """Every stored blob with its size, in no particular order."""

    def blob_uri(self, digest: Digest) -> str:
        """Where the bytes live, as a URL (``file://...`` or ``s3://...``)."""

    def close(self) -> None:
        """Release connections and handles."""


@runtime_checkable
class LocalBlobPaths(Protocol):
    """Optional ability: blobs are files on this machine (the local store)."""

    def blob_path(self, digest: Digest) -> Path:
        """The path of a blob's file (it may not exist)."""

    @property
    def root(self) -> Path:
        """The store's directory."""
