"""Streamed, verified file downloads with HTTP Range, for the API and for signed links.

Every byte sent is hashed on the way, a range request too (it reads the whole file), and
the last piece is held back until the SHA-256 and size match: a damaged blob is never
served whole. When they do not match, the stream raises after the headers went out, which
closes the connection before the announced length, so the client sees a short body.
Memory per download is a few chunks (``CHUNK``), whatever the file size.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

import anyio.to_thread
from starlette.responses import Response, StreamingResponse

from satchel.errors import IntegrityError, NotFoundError
from satchel.hashing import Digest, HashingSink, verify
from satchel.models import ArtifactFile
from satchel.server.errors import ApiError
from satchel.storage.base import BlobReader
from satchel.store import ArtifactStore

__all__ = [
    "CHUNK",
    "ByteRange",
    "DownloadAbortedError",
    "download_headers",
    "parse_range",
    "stream_file",
]

log = logging.getLogger("satchel.server")

#: Bytes read per step. A download holds about three of them (the one read, the one held
#: back until verified, the one the socket is sending): 32 at once, about 48 MiB.
CHUNK: Final = 512 * 1024
_RANGE: Final = re.compile(r"bytes=(\d*)-(\d*)")


class DownloadAbortedError(RuntimeError):
    """A download stopped after its headers were sent; the connection is cut short.

    Deliberately not a ``SatchelError``: an error handler cannot answer once the body
    started, so the exception must travel up to the server, which closes the connection
    before the announced length (the client sees a short body, never wrong bytes).
    """


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range a ``Range`` header asks for; None for the whole file.

    A header that is malformed, names another unit or several ranges is ignored (RFC 9110
    lets a server answer the whole representation); one that no byte of the file satisfies
    is ``416`` with ``Content-Range: bytes */<size>``.
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else None
    if end is not None and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, size - 1 if end is None else min(end, size - 1))


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        "range_not_satisfiable",
        f"the range asks for bytes past the end of the file ({size} bytes)",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _ascii_name(name: str) -> str:
    safe = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    return safe or "download"


def download_headers(file: ArtifactFile) -> dict[str, str]:
    """Headers of every download: an attachment that is never active content."""
    name = file.path.rsplit("/", 1)[-1]
    return {
        "Content-Disposition": (
            f"attachment; filename=\"{_ascii_name(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "ETag": f'"{file.sha256}"',
        "X-Satchel-SHA256": file.sha256,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-store",
    }


def _what(artifact_id: str, file: ArtifactFile) -> str:
    return f"artifact {artifact_id} file {file.path!r}"


async def stream_file(
    store: ArtifactStore, artifact_id: str, file: ArtifactFile, range_header: str | None
) -> Response:
    """The answer that downloads ``file`` (all of it, or the range asked for)."""
    wanted = parse_range(range_header, file.bytes)
    headers = download_headers(file)
    media = file.mime or "application/octet-stream"
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {wanted.start}-{wanted.end}/{file.bytes}"
    length = file.bytes if wanted is None else wanted.length
    headers["Content-Length"] = str(length)
    what = _what(artifact_id, file)
    expected = Digest(hexdigest=file.sha256)
    # A small file kept inline is checked before anything is sent: a mismatch is a clean 500.
    inline = await anyio.to_thread.run_sync(lambda: store.inline_bytes(file, what=what))
    if inline is not None:
        body = inline if wanted is None else inline[wanted.start : wanted.end + 1]
        return Response(body, status_code=status, headers=headers, media_type=media)
    try:
        reader = await anyio.to_thread.run_sync(store.blobs.open_read, expected)
    except NotFoundError as exc:
        raise IntegrityError(
            f"integrity check failed for {what}: its blob {expected} is missing from the store"
        ) from exc
    first = 0 if wanted is None else wanted.start
    last = file.bytes - 1 if wanted is None else wanted.end
    return StreamingResponse(
        _verified(reader, file, first=first, last=last, what=what),
        status_code=status,
        headers=headers,
        media_type=media,
    )


async def _verified(
    reader: BlobReader, file: ArtifactFile, *, first: int, last: int, what: str
) -> AsyncIterator[bytes]:
    try:
        async for piece in _checked(reader, file, first=first, last=last, what=what):
            yield piece
    except IntegrityError as exc:
        log.error("download aborted: %s", exc)
        raise DownloadAbortedError(str(exc)) from exc


async def _checked(
    reader: BlobReader, file: ArtifactFile, *, first: int, last: int, what: str
) -> AsyncIterator[bytes]:
    expected = Digest(hexdigest=file.sha256)
    hashing = HashingSink()
    buffer = bytearray(CHUNK)
    position = 0
    held: bytes | None = None
    try:
        while n := await anyio.to_thread.run_sync(reader.readinto, buffer):
            if position + n > file.bytes:
                raise IntegrityError(
                    f"integrity check failed for {what}: more than the recorded "
                    f"{file.bytes} bytes are stored"
                )
            view = memoryview(buffer)[:n]
            hashing.write(view)
            low, high = max(first, position), min(last + 1, position + n)
            if low < high:
                piece = bytes(view[low - position : high - position])
                if held is not None:
                    yield held
                held = piece
            position += n
    finally:
        reader.close()
    if position != file.bytes:
        raise IntegrityError(
            f"integrity check failed for {what}: {position} bytes stored, {file.bytes} recorded"
        )
    verify(expected, hashing.digest(), what=what)
    if held is not None:
        yield held
