"""Digests that carry their algorithm, hashing in the same pass as the copy, tree hashes.

The copy loop reads a chunk into one of two buffers, hands it to a second thread for
SHA-256 (``hashlib`` releases the GIL on large buffers) and writes it meanwhile, so hashing
and writing overlap on two cores.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Final, Protocol

from satchel.errors import IntegrityError, ValidationError

__all__ = [
    "ALGORITHM",
    "Digest",
    "HashingSink",
    "copy_and_hash",
    "digest_bytes",
    "tree_digest",
]

ALGORITHM: Final = "sha256"
_HEX64 = re.compile(r"[0-9a-f]{64}")
CHUNK_SIZE: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Digest:
    """A content digest: the algorithm and the lowercase hex value."""

    hexdigest: str
    algorithm: str = ALGORITHM

    def __post_init__(self) -> None:
        if self.algorithm != ALGORITHM or not _HEX64.fullmatch(self.hexdigest):
            raise ValidationError(f"not a {ALGORITHM} digest: {self.algorithm}:{self.hexdigest!r}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Read ``sha256:<hex>`` or a bare 64-character hex digest."""
        algorithm, colon, value = text.rpartition(":")
        # ":<hex>" names an empty algorithm, which __post_init__ refuses; only no colon at
        # all means the default.
        return cls(hexdigest=value.lower(), algorithm=algorithm if colon else ALGORITHM)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


def digest_bytes(data: bytes | bytearray | memoryview) -> Digest:
    """SHA-256 of a bytes object."""
    return Digest(hexdigest=hashlib.sha256(data).hexdigest())


class _Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int | None: ...


class HashingSink:
    """Wraps a sink; every write is hashed and counted before it is passed on."""

    def __init__(self, sink: _Writable | None = None) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")  # count bytes, not items (array("i"), numpy)
        self._hash.update(view)
        self.size += len(view)
        if self._sink is not None:
            self._sink.write(view)
        return len(view)

    def digest(self) -> Digest:
        return Digest(hexdigest=self._hash.hexdigest())


_hash_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="satchel-hash")


def copy_and_hash(
    source: BinaryIO,
    write: Callable[[memoryview], object],
    *,
    prefix: bytes = b"",
    chunk_size: int = CHUNK_SIZE,
    on_chunk: Callable[[int], None] | None = None,
) -> tuple[Digest, int]:
    """Copy ``prefix`` and then ``source`` to ``write`` in fixed-size chunks, hashing in parallel.

    Memory stays at two chunk buffers whatever the size. Returns the digest and the
    number of bytes copied.
    """
    hasher = hashlib.sha256(prefix)
    if prefix:
        write(memoryview(prefix))
    buffers = (bytearray(chunk_size), bytearray(chunk_size))
    pending: Future[None] | None = None
    total = len(prefix)
    turn = 0
    while True:
        buf = buffers[turn]
        n = source.readinto(buf)  # type: ignore[attr-defined]
        if not n:
            break
        view = memoryview(buf)[:n]
        if pending is not None:
            pending.result()
        pending = _hash_pool.submit(hasher.update, view)
        write(view)
        total += n
        if on_chunk is not None:
            on_chunk(total)
        turn ^= 1
    if pending is not None:
        pending.result()
    return Digest(hexdigest=hasher.hexdigest()), total


def tree_digest(entries: Iterable[tuple[str, str, int]]) -> Digest:
    """The digest of a directory: SHA-256 over its sorted manifest.

    Each ``(path, sha256_hex, size)`` becomes the line ``"<sha256> <size> <path>\\n"``; lines
    are sorted by the UTF-8 bytes of the path. Paths never contain a newline (file keys are
    validated), so the encoding is unambiguous.
    """
    hasher = hashlib.sha256()
    for path, hexdigest, size in sorted(entries, key=lambda e: e[0].encode("utf-8")):
        hasher.update(f"{hexdigest} {size} {path}\n".encode())
    return Digest(hexdigest=hasher.hexdigest())


def verify(expected: Digest, actual: Digest, *, what: str) -> None:
    """Raise ``IntegrityError`` when two digests differ."""
    if expected != actual:
        raise IntegrityError(
            f"integrity check failed for {what}: expected {expected}, stored bytes hash to {actual}"
        )
