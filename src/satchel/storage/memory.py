"""Blobs in a dict: for tests and throwaway stores. Not durable, by definition."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

from satchel.errors import NotFoundError, StorageError
from satchel.hashing import Digest
from satchel.storage.layout import blob_key

__all__ = ["MemoryBlobStore"]


class _MemorySink:
    def __init__(self, store: MemoryBlobStore) -> None:
        self._store = store
        self._buffer: io.BytesIO | None = io.BytesIO()

    def write(self, data: bytes | bytearray | memoryview, /) -> None:
        if self._buffer is None:
            raise StorageError("blob sink is closed")
        self._buffer.write(data)

    def commit(self, digest: Digest) -> bool:
        if self._buffer is None:
            raise StorageError("blob sink is closed")
        data = self._buffer.getvalue()
        self._buffer = None
        return self._store.put_if_absent(digest, data)

    def abort(self) -> None:
        self._buffer = None


class _MemoryReader:
    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        return self._stream.readinto(buffer)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _MemoryReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class MemoryBlobStore:
    """A process-local blob store; ``memory://<name>`` stores of the same name are shared."""

    _named: dict[str, MemoryBlobStore] = {}  # noqa: RUF012 - deliberate registry
    _named_lock = threading.Lock()

    def __init__(self, name: str = "") -> None:
        self._name = name
        self._blobs: dict[str, bytes] = {}
        self._times: dict[str, datetime] = {}
        self._lock = threading.Lock()

    @classmethod
    def named(cls, name: str) -> MemoryBlobStore:
        """The shared store of that name (a fresh one for an empty name)."""
        if not name:
            return cls()
        with cls._named_lock:
            return cls._named.setdefault(name, cls(name))

    @property
    def url(self) -> str:
        return f"memory://{self._name}"

    def put_if_absent(self, digest: Digest, data: bytes) -> bool:
        with self._lock:
            if digest.hexdigest in self._blobs:
                return False
            self._blobs[digest.hexdigest] = data
            self._times[digest.hexdigest] = datetime.now(UTC)
            return True

    def open_sink(self) -> _MemorySink:
        return _MemorySink(self)

    def stat(self, digest: Digest) -> int | None:
        data = self._blobs.get(digest.hexdigest)
        return None if data is None else len(data)

    def open_read(self, digest: Digest) -> _MemoryReader:
        data = self._blobs.get(digest.hexdigest)
        if data is None:
            raise NotFoundError(f"blob {digest} is missing from {self.url}")
        return _MemoryReader(data)

    def corrupt(self, digest: Digest, data: bytes) -> None:
        """Replace a blob's bytes without changing its key (for corruption tests)."""
        with self._lock:
            self._blobs[digest.hexdigest] = data

    def set_modified(self, digest: Digest, when: datetime) -> None:
        """Change a blob's modification time (for grace period tests)."""
        with self._lock:
            if digest.hexdigest in self._blobs:
                self._times[digest.hexdigest] = when

    def delete(self, digest: Digest) -> bool:
        with self._lock:
            self._times.pop(digest.hexdigest, None)
            return self._blobs.pop(digest.hexdigest, None) is not None

    def iter_blobs(self) -> Iterator[tuple[Digest, int]]:
        for hexdigest, data in list(self._blobs.items()):
            yield Digest(hexdigest=hexdigest), len(data)

    def iter_blob_times(self) -> Iterator[tuple[Digest, int, datetime]]:
        """Every blob with its size and the time it was stored (``BlobTimes``)."""
        now = datetime.now(UTC)  # a time unknown counts as young: kept by gc
        with self._lock:
            items = [(h, len(d), self._times.get(h, now)) for h, d in self._blobs.items()]
        for hexdigest, size, modified in items:
            yield Digest(hexdigest=hexdigest), size, modified

    def blob_uri(self, digest: Digest) -> str:
        return f"{self.url}/{blob_key(digest)}"

    def close(self) -> None:
        return None
