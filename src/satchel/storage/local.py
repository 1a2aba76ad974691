"""Blobs as read-only files in a local directory.

Write protocol (P2, "acknowledged means durable"): bytes go to ``tmp/<id>.part``; commit
fsyncs the file, makes it read-only, hard-links it to ``blobs/<key>`` unless that exists
(put-if-absent), fsyncs the fan-out directory and removes the temp name. A crash before
the link leaves only a temp file, which is garbage for ``satchel gc``. A failed write or
fsync is raised, never reported as success.
"""

from __future__ import annotations

import contextlib
import errno as errno_codes
import os
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import FileIO
from pathlib import Path
from typing import Final

from satchel import _faults
from satchel.errors import NotFoundError, StorageError, ValidationError
from satchel.hashing import Digest
from satchel.models import new_id
from satchel.storage.base import GarbageItem
from satchel.storage.layout import FANOUT_DIRS, blob_key, digest_from_key

__all__ = ["LocalBlobStore", "fsync_dir"]

BLOBS_DIR: Final = "blobs"
TMP_DIR: Final = "tmp"
_TEMP_KEY: Final = re.compile(rf"{TMP_DIR}/[0-9A-Za-z]{{16,40}}\.part")
#: Start writeback in the background every this many bytes, so that the fsync at commit
#: has only the tail left to flush and disk writes overlap hashing.
FLUSH_EVERY: Final = 32 * 1024 * 1024

_flusher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="satchel-flush")


def _storage_error(action: str, exc: OSError) -> StorageError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return StorageError(f"{action} failed: {reason}", exc.errno)


def fsync_dir(path: Path) -> None:
    """fsync a directory so that renames and creations in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _LocalSink:
    def __init__(self, store: LocalBlobStore, adopt: Path | None = None) -> None:
        self._store = store
        self._path = store.tmp_dir / f"{new_id()}.part"
        self._size = 0
        try:
            if adopt is None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            else:
                # A finished file becomes this sink's temp file (same file system only).
                os.rename(adopt, self._path)
                flags = os.O_WRONLY | os.O_CLOEXEC
            self._fd: int | None = os.open(self._path, flags, 0o600)
            if adopt is not None:
                self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise _storage_error("creating a temporary blob file", exc) from exc
        self._first = True
        self._unflushed = 0
        self._flush: Future[None] | None = None

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        fd = self._require_open()
        view = memoryview(data).cast("B")  # os.write counts bytes: slice by bytes too
        try:
            while view:
                written = os.write(fd, view)
                view = view[written:]
                self._size += written
                self._unflushed += written
        except OSError as exc:
            self.abort()
            raise _storage_error("writing a blob", exc) from exc
        if self._first:
            self._first = False
            _faults.point("blob.chunk_written")
        if self._unflushed >= FLUSH_EVERY and (self._flush is None or self._flush.done()):
            self._settle_flush()
            self._unflushed = 0
            self._flush = _flusher.submit(os.fdatasync, fd)

    def _settle_flush(self) -> None:
        """Wait for the background flush; a failed one fails the blob (fsyncgate: the
        kernel may have dropped the pages, so a later fsync succeeding proves nothing)."""
        flush, self._flush = self._flush, None
        if flush is None:
            return
        try:
            flush.result()
        except OSError as exc:
            self.abort()
            raise _storage_error("fsync of a blob", exc) from exc

    def commit(self, digest: Digest) -> bool:
        fd = self._require_open()
        self._settle_flush()
        try:
            os.fsync(fd)
            os.fchmod(fd, 0o444)
        except OSError as exc:
            self.abort()
            raise _storage_error("fsync of a blob", exc) from exc
        os.close(fd)
        self._fd = None
        _faults.point("blob.fsynced")
        final = self._store.blob_path(digest)
        try:
            settled = self._settle_existing(final)
            if settled is not None:
                return settled
            # A hard link fails when the key exists, so of many writers of the same bytes
            # exactly one stores them; a rename would silently replace (put-if-absent).
            try:
                os.link(self._path, final)
            except FileExistsError:
                settled = self._settle_existing(final)
                if settled is None:
                    raise
                return settled
            except OSError as exc:
                if exc.errno not in (errno_codes.EPERM, errno_codes.ENOTSUP):
                    raise
                os.rename(self._path, final)  # no hard links here: the last writer wins
            fsync_dir(final.parent)
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._path.unlink()
            raise _storage_error("storing a blob", exc) from exc
        _faults.point("blob.committed")
        return True

    def _settle_existing(self, final: Path) -> bool | None:
        """Settle a blob already stored under this key; None when there is none.

        A stored blob of the right size is kept (its name may not be durable yet, if a
        concurrent writer or an earlier failed directory fsync left it so: fsync before
        acknowledging): returns False. One of the wrong size is damage; the new copy replaces
        it: returns True.
        """
        try:
            existing = final.stat().st_size
        except FileNotFoundError:
            return None
        if existing != self._size:
            os.replace(self._path, final)
            fsync_dir(final.parent)
            return True
        self._path.unlink()
        fsync_dir(final.parent)
        return False

    def abort(self) -> None:
        flush, self._flush = self._flush, None
        if flush is not None:
            # The descriptor must not be closed (and reused) under a running fdatasync.
            with contextlib.suppress(OSError):
                flush.result()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def _require_open(self) -> int:
        if self._fd is None:
            raise StorageError("blob sink is closed", errno_codes.EBADF)
        return self._fd


class LocalBlobStore:
    """Content-addressed blobs under ``<root>/blobs``; temp files under ``<root>/tmp``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).expanduser().resolve()
        self.blobs_dir = self._root / BLOBS_DIR
        self.tmp_dir = self._root / TMP_DIR
        try:
            self._prepare()
        except OSError as exc:
            raise _storage_error(f"preparing the blob store at {self._root}", exc) from exc

    def _prepare(self) -> None:
        fanout = self.blobs_dir / "sha256"
        if (fanout / FANOUT_DIRS[-1]).is_dir() and self.tmp_dir.is_dir():
            return
        for directory in (self._root, self.blobs_dir, fanout, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for name in FANOUT_DIRS:
            (fanout / name).mkdir(exist_ok=True)
        for directory in (fanout, self.blobs_dir, self._root, self._root.parent):
            fsync_dir(directory)

    @property
    def url(self) -> str:
        return self._root.as_uri()

    @property
    def root(self) -> Path:
        return self._root

    def blob_path(self, digest: Digest) -> Path:
        return self.blobs_dir / blob_key(digest)

    def open_sink(self) -> _LocalSink:
        return _LocalSink(self)

    def adopt_file(self, path: Path, digest: Digest) -> bool:
        """Publish a finished file under ``digest`` by moving it into the store (the
        ``FileAdoption`` ability): no copy. The caller verified its bytes and nothing
        writes to it any more. Raises ``StorageError`` (``EXDEV``) when it is on another
        file system; True if stored now, False if present."""
        return _LocalSink(self, adopt=path).commit(digest)

    def stat(self, digest: Digest) -> int | None:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _storage_error("stat of a blob", exc) from exc

    def open_read(self, digest: Digest) -> _FileReader:
        try:
            return _FileReader(FileIO(self.blob_path(digest), "rb"))
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} is missing from {self.url}") from exc
        except OSError as exc:
            raise _storage_error("opening a blob", exc) from exc

    def delete(self, digest: Digest) -> bool:
        path = self.blob_path(digest)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _storage_error("deleting a blob", exc) from exc
        fsync_dir(path.parent)
        return True

    def iter_blobs(self) -> Iterator[tuple[Digest, int]]:
        for digest, size, _ in self.iter_blob_times():
            yield digest, size

    def iter_blob_times(self) -> Iterator[tuple[Digest, int, datetime]]:
        """Every blob with its size and modification time (``BlobTimes``)."""
        base = self.blobs_dir
        for directory in sorted(base.glob("sha256/??")):
            for entry in os.scandir(directory):
                key = f"sha256/{directory.name}/{entry.name}"
                try:
                    digest = digest_from_key(key)
                    st = entry.stat()
                except ValueError:
                    continue
                except FileNotFoundError:
                    continue  # deleted meanwhile
                yield digest, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)

    def iter_temp_files(self) -> Iterator[Path]:
        """Leftover temp files (from crashed writes or writes in flight)."""
        yield from sorted(self.tmp_dir.glob("*.part"))

    def iter_garbage(self, *, older_than: timedelta) -> Iterator[GarbageItem]:
        """Temp files last written more than ``older_than`` ago (``BlobGarbage``)."""
        cutoff = datetime.now(UTC) - older_than
        for path in self.iter_temp_files():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # committed or aborted meanwhile
            modified = datetime.fromtimestamp(st.st_mtime, UTC)
            if modified <= cutoff:
                yield GarbageItem(
                    kind="temp_file",
                    key=f"{TMP_DIR}/{path.name}",
                    created_at=modified,
                    size=st.st_size,
                )

    def remove_garbage(self, item: GarbageItem) -> bool:
        """Remove one temp file; the key must name one (it never becomes another path)."""
        if item.kind != "temp_file" or not _TEMP_KEY.fullmatch(item.key):
            raise ValidationError(f"not a temp file of this store: {item.key!r}")
        try:
            (self._root / item.key).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _storage_error("removing a temp file", exc) from exc
        return True

    def blob_uri(self, digest: Digest) -> str:
        return self.blob_path(digest).as_uri()

    def close(self) -> None:
        return None


class _FileReader:
    def __init__(self, fh: FileIO) -> None:
        self._fh = fh

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        try:
            return self._fh.readinto(buffer) or 0
        except OSError as exc:
            raise _storage_error("reading a blob", exc) from exc

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _FileReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
