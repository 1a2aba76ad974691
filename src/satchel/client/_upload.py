"""Saves over HTTP, in the API's two phases: create with the file list, then the bytes.

* Small files (up to the server's ``content_max``) travel inside the create request as
  long as it stays under ``body_max``; the rest of them go in ``/contents`` batches. An
  artifact of small files is one request and one durable transaction on the server.
* Larger files go in requests of ``chunk_size`` (``PUT .../uploads/{path}?offset=N``), each
  streamed from disk in pieces, so memory stays bounded whatever the file's size. After a
  dropped connection the upload asks the server how much arrived and goes on from there:
  at most the chunk that was cut is sent again.
* On a server that signs part URLs (S3 stores), files larger than one chunk go straight
  to the bucket in parts instead (``_parts``), resumable the same way.
* Every save carries an id of its own (the server's idempotency key), kept in the resume
  journal until the save ends, so a retried create returns the same artifact and a save
  killed mid-upload resumes in the next process (``_journal``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from satchel.client._api import _BACKOFF, Api, file_url
from satchel.client._journal import Claim, Journal
from satchel.client._parts import PartSender
from satchel.errors import BusyError, ConflictError, NetworkError, SatchelError
from satchel.hashing import CHUNK_SIZE, copy_and_hash
from satchel.models import Artifact
from satchel.store import open_regular_file

__all__ = ["Upload", "Uploader"]

#: Bytes read from disk per write to the socket, within a chunk.
PIECE: Final = 1024 * 1024
#: Room left in a request body for JSON syntax and the metadata's own estimate error.
_MARGIN: Final = 64 * 1024


def _discard(_: memoryview) -> None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """One file of a save: its key, digest and size, and where its bytes are."""

    path: str
    sha256: str
    size: int
    mime: str | None
    data: bytes | None = None
    source: Path | None = None
    #: False for a directory's entries: a link that appeared since the walk is refused.
    follow_symlinks: bool = True

    @classmethod
    def of_bytes(cls, path: str, data: bytes, mime: str | None) -> Upload:
        digest, size = copy_and_hash(io.BytesIO(data), _discard)
        return cls(path=path, sha256=digest.hexdigest, size=size, mime=mime, data=data)

    @classmethod
    def of_file(
        cls, path: str, source: Path, mime: str | None, *, follow_symlinks: bool = True
    ) -> Upload:
        """A local file, hashed now (regular files only: FIFOs and devices are refused)."""
        with open_regular_file(source, follow_symlinks=follow_symlinks) as fh:
            # Buffers no larger than the file: the default two 8 MiB ones cost 10 ms of
            # zeroing each time, 10 s for a directory of 1,000 small files.
            room = min(CHUNK_SIZE, max(os.fstat(fh.fileno()).st_size, 1))
            digest, size = copy_and_hash(fh, _discard, chunk_size=room)
        return cls(
            path=path,
            sha256=digest.hexdigest,
            size=size,
            mime=mime,
            source=source,
            follow_symlinks=follow_symlinks,
        )

    def entry(self) -> dict[str, Any]:
        """The file's entry in a create request (without content)."""
        return {"path": self.path, "sha256": self.sha256, "bytes": self.size, "mime": self.mime}

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.source is not None
        return open_regular_file(self.source, follow_symlinks=self.follow_symlinks)

    def content(self) -> str:
        """The whole file, base64 (small files only)."""
        with self.open() as fh:
            data = fh.read()
        if len(data) != self.size:
            raise ConflictError(f"{self.path!r} changed while it was being saved")
        return base64.b64encode(data).decode("ascii")

    def pieces(self, offset: int, length: int) -> Iterator[bytes]:
        """``length`` bytes from ``offset``, read in pieces as the socket takes them."""
        with self.open() as fh:
            fh.seek(offset)
            left = length
            while left > 0:
                piece = fh.read(min(PIECE, left))
                if not piece:
                    raise ConflictError(f"{self.path!r} shrank while it was being saved")
                left -= len(piece)
                yield piece


def _inline_size(upload: Upload) -> int:
    return 4 * ((upload.size + 2) // 3) + len(upload.path) + 32


class Uploader:
    """Saves artifacts through one server's API."""

    def __init__(self, api: Api, journal: Journal, *, scope: str, chunk_size: int) -> None:
        self._api = api
        self._journal = journal
        self._scope = scope
        self.chunk_size = chunk_size
        self._parts = PartSender(api)

    def close(self) -> None:
        self._parts.close()

    def save(self, meta: dict[str, Any], files: Sequence[Upload]) -> Artifact:
        """Create the artifact, send what the server does not hold, return it completed."""
        info = self._api.info()
        request = {**meta, "files": [f.entry() for f in files]}
        with self._journal.claim(Journal.key_of(self._scope, request)) as claim:
            body = {**request, "artifact_id": claim.artifact_id}
            budget = info.body_max - _encoded_size(body) - _MARGIN
            inline = self._fitting(files, info.content_max, budget)
            body["files"] = [
                {**f.entry(), "content": f.content()} if f.path in inline else f.entry()
                for f in files
            ]
            response = self._api.request("POST", "/artifacts", json=body, retry=True)
            artifact = Artifact.from_dict(response.json())
            if artifact.status == "completed":
                return artifact
            resumed = response.status_code == 200
            return self._finish(
                artifact, files, claim, resumed=resumed, content_max=info.content_max
            )

    @staticmethod
    def _fitting(files: Sequence[Upload], content_max: int, budget: int) -> set[str]:
        """The small files whose content fits in one request of ``budget`` bytes."""
        chosen: set[str] = set()
        for upload in sorted(files, key=lambda f: f.size):
            if upload.size > content_max or upload.size == 0:
                continue
            cost = _inline_size(upload)
            if cost > budget:
                break
            budget -= cost
            chosen.add(upload.path)
        return chosen

    def _finish(
        self,
        artifact: Artifact,
        files: Sequence[Upload],
        claim: Claim,
        *,
        resumed: bool,
        content_max: int,
    ) -> Artifact:
        by_path = {f.path: f for f in files}
        pending = [by_path[f.path] for f in artifact.files if f.status == "pending"]
        budget = self._api.info().body_max - _MARGIN
        small = [f for f in pending if f.size <= content_max and _inline_size(f) <= budget]
        for batch in self._batches(small, budget):
            self._api.request(
                "POST",
                f"/artifacts/{artifact.artifact_id}/contents",
                json={"files": [{"path": f.path, "content": f.content()} for f in batch]},
                retry=True,
            )
        inline = {f.path for f in small}
        by_parts = self._api.info().presigned_multipart
        for upload in pending:
            if upload.path in inline:
                continue
            if by_parts and self._parts.usable and upload.size > self.chunk_size:
                sent = self._parts.send(
                    artifact.artifact_id, upload, claim, part_size=self.chunk_size
                )
                if sent:
                    continue
            self._send(artifact.artifact_id, upload, resume=resumed)
        final = Artifact.from_dict(
            self._api.json("GET", f"/artifacts/{artifact.artifact_id}", retry=True)
        )
        if final.status != "completed":
            raise SatchelError(
                f"artifact {artifact.artifact_id} is still {final.status} after its upload"
            )
        return final

    @staticmethod
    def _batches(small: Sequence[Upload], budget: int) -> Iterator[list[Upload]]:
        batch: list[Upload] = []
        used = 0
        for upload in small:
            cost = _inline_size(upload)
            if batch and used + cost > budget:
                yield batch
                batch, used = [], 0
            batch.append(upload)
            used += cost
        if batch:
            yield batch

    def _received(self, url: str) -> tuple[int, bool]:
        state = self._api.json("GET", url, retry=True)
        return int(state["received"]), state["status"] == "completed"

    def _send(self, artifact_id: str, upload: Upload, *, resume: bool) -> None:
        """Send a pending file's bytes in chunks, resuming after dropped connections."""
        url = file_url(artifact_id, upload.path, route="uploads")
        offset, done = self._received(url) if resume else (0, False)
        failures = 0
        while not done:
            length = min(self.chunk_size, upload.size - offset)
            try:
                state = self._api.json(
                    "PUT",
                    url,
                    retry=False,
                    params={"offset": offset},
                    content=upload.pieces(offset, length),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(length),
                    },
                )
            except (NetworkError, BusyError):
                # A dropped connection, or the server still finishing a request that was cut
                # (this one's, or a killed process's: ``busy``): ask how much arrived and go
                # on from there.
                if failures >= len(_BACKOFF):
                    raise
                time.sleep(_BACKOFF[failures])
                failures += 1
                offset, done = self._received(url)
                continue
            failures = 0
            offset, done = int(state["received"]), state["status"] == "completed"


def _encoded_size(body: dict[str, Any]) -> int:
    """The bytes of a JSON request body (as httpx encodes it, give or take spaces)."""
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
