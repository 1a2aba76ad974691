"""The blob store seam: a Protocol and its optional abilities, no logic.

A blob store keeps bytes under their digest. Writes go through a sink: bytes are written
to a temporary place, and ``commit(digest)`` makes them durable and visible under the
digest's key atomically and only if absent (put-if-absent), so two writers of the same
bytes are both correct without a lock. Readers get raw bytes; verification against the
digest happens in the store layer above, on every read.

Optional abilities are small Protocols of their own, checked with ``isinstance``:
``LocalBlobPaths`` (blobs are files here), ``FileAdoption`` (take a local file by moving
it), ``DigestFirstUpload`` (the store would rather
know the digest before the bytes: object stores), ``BlobGarbage`` (list and remove what
crashed writes left), ``BlobTimes`` (when each blob was written, for ``gc``'s grace),
``BlobSigner`` (pre-signed URLs for the server) and ``PartSigner``
(multipart uploads whose parts clients PUT to pre-signed URLs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, Protocol, Self, runtime_checkable

from satchel.hashing import Digest

__all__ = [
    "BlobGarbage",
    "BlobReader",
    "BlobSigner",
    "BlobSink",
    "BlobStore",
    "BlobTimes",
    "DigestFirstUpload",
    "FileAdoption",
    "GarbageItem",
    "LocalBlobPaths",
    "PartSigner",
    "PartUpload",
    "SignedUpload",
    "UploadedPart",
]


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


@runtime_checkable
class DigestFirstUpload(Protocol):
    """Optional ability: upload bytes whose digest is already known, straight to their key.

    An object store cannot rename, so a sink (digest known only at the end) must upload to
    a temporary key and copy. When the source is a file, the store layer hashes it first
    and calls this instead: one upload, no copy.
    """

    def put_verified(
        self,
        source: BinaryIO,
        digest: Digest,
        size: int,
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> bool:
        """Store ``size`` bytes read from ``source`` under ``digest``.

        The bytes are hashed again as they are uploaded; unless they hash to ``digest``
        and count ``size``, nothing becomes visible and ``ConflictError`` (the source
        changed) is raised. Returns True if stored now, False if already present.
        """


@runtime_checkable
class FileAdoption(Protocol):
    """Optional ability: take a finished local file as a blob by moving it (no copy).

    For bytes staged on this machine and verified already (the server's uploads).
    """

    def adopt_file(self, path: Path, digest: Digest) -> bool:
        """Move ``path`` into the store under ``digest``; raises ``StorageError``
        (``errno`` ``EXDEV``) when it is on another file system and cannot be moved.
        True if stored now, False if present."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GarbageItem:
    """Something a crashed or abandoned write left behind, never a blob under its key.

    Attributes:
        kind: ``temp_object`` (a finished upload never published) or
            ``multipart_upload`` (an upload begun and neither completed nor aborted).
        key: the object key (or temp file name) it occupies.
        created_at: when it was started (UTC).
        size: bytes it holds, when known.
        upload_id: the multipart upload's id.
    """

    kind: Literal["temp_object", "multipart_upload", "temp_file"]
    key: str
    created_at: datetime
    size: int | None = None
    upload_id: str | None = None


@runtime_checkable
class BlobGarbage(Protocol):
    """Optional ability: list and remove leftovers of writes (for ``fsck`` and ``gc``).

    Plan, then execute: ``iter_garbage`` only lists; ``remove_garbage`` removes one item.
    The grace period keeps writes still in flight out of the plan.
    """

    def iter_garbage(self, *, older_than: timedelta) -> Iterator[GarbageItem]:
        """Leftovers started more than ``older_than`` ago."""

    def remove_garbage(self, item: GarbageItem) -> bool:
        """Remove one leftover; False if it was gone already."""


@runtime_checkable
class BlobTimes(Protocol):
    """Optional ability: when each blob was last written (``gc`` deletes an unreferenced
    blob only once it is older than a grace period, so a save in flight keeps its blob)."""

    def iter_blob_times(self) -> Iterator[tuple[Digest, int, datetime]]:
        """Every stored blob with its size and last modification time (UTC)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedUpload:
    """A pre-signed PUT to a temporary key; ``token`` names it for ``adopt_upload``."""

    url: str
    token: str
    expires_at: datetime


@runtime_checkable
class BlobSigner(Protocol):
    """Optional ability: pre-signed URLs, so clients move bytes without the server.

    Uploads never go straight to a digest key: a signed PUT cannot be made create-only,
    and the bytes must be verified before anything references them.
    """

    def presign_get(
        self,
        digest: Digest,
        expires: timedelta,
        *,
        disposition: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """A URL that GETs the blob's raw bytes until ``expires`` from now.

        ``disposition`` and ``content_type``, when the store can sign them into the URL,
        are the ``Content-Disposition`` and ``Content-Type`` the bucket answers with (a
        download keeps its file's name rather than the digest's).
        """

    def presign_put(self, expires: timedelta) -> SignedUpload:
        """A URL that PUTs one object to a fresh temporary key."""

    def adopt_upload(self, token: str, digest: Digest) -> bool:
        """Verify a signed upload's bytes against ``digest`` and publish them under it.

        Raises ``IntegrityError`` (and removes the upload) when they do not match and
        ``NotFoundError`` when nothing was uploaded; True if stored now, False if present.
        """


@dataclass(frozen=True, slots=True, kw_only=True)
class PartUpload:
    """A multipart upload to a fresh temporary key: ``token`` names the key, ``upload_id``
    is the object store's id of the upload."""

    token: str
    upload_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadedPart:
    """A part the object store holds: its number (from 1), size and ETag."""

    number: int
    size: int
    etag: str


@runtime_checkable
class PartSigner(Protocol):
    """Optional ability: multipart uploads whose parts clients PUT to pre-signed URLs.

    Like ``BlobSigner``'s single PUT, the upload goes to a temporary key (under the prefix
    that ``BlobGarbage`` lists, so an abandoned one is collected) and is published under
    its digest only once its bytes, read back, hash to it.
    """

    @property
    def signs_parts(self) -> bool:
        """Whether this store can do it (an S3 store needs static credentials)."""

    @property
    def min_part_size(self) -> int:
        """The smallest size a part other than the last may have."""

    def start_parts(self) -> PartUpload:
        """Begin a multipart upload to a fresh temporary key."""

    def presign_part(self, upload: PartUpload, number: int, expires: timedelta) -> str:
        """A URL that PUTs part ``number`` (1 to 10,000) until ``expires`` from now."""

    def list_parts(self, upload: PartUpload) -> list[UploadedPart]:
        """The parts uploaded so far, by number; ``NotFoundError`` when the upload is gone."""

    def complete_parts(
        self, upload: PartUpload, digest: Digest, *, size: int, part_size: int
    ) -> bool:
        """Join the parts, verify them against ``digest`` and publish them under it.

        The parts must be 1..N, each ``part_size`` bytes but the last, ``size`` in all;
        otherwise ``ConflictError`` names what is missing and the upload stays as it is.
        Bytes that do not hash to ``digest`` raise ``IntegrityError`` and are removed (the
        upload is then gone). ``NotFoundError`` when the upload is gone. True if stored
        now, False if the blob was present.
        """

    def abort_parts(self, upload: PartUpload) -> None:
        """Abort the upload and free its parts (an unknown upload is no error)."""
