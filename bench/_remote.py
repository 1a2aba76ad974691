"""The HTTP API of docs/api.md by hand, over httpx: what the ``--server`` figures need
besides the remote SDK.

The SDK (``satchel.Context(store="http://...")``) is the satchel side of the figures. This
client does what it cannot, or what a figure wants to see in detail: a large file sent in
64 MiB chunks with each request timed (hash, create the artifact with its file list, PUT
the chunks with their offsets; the last one completes the file once the server verified
its SHA-256), a streamed download hashed as it arrives, the routes curl is pointed at,
checking that every file of an artifact landed, and deleting an artifact between runs
(the facade has no delete).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from _util import MIB

#: Bytes per upload request (docs/api.md: 8-64 MiB is a good choice).
UPLOAD_CHUNK = 64 * MIB
#: Bytes read from disk and handed to the socket at a time.
PIECE = 1 * MIB


class IntegrityMismatchError(RuntimeError):
    pass


def sha256_file(path: Path) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    buf = bytearray(8 * MIB)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            hasher.update(memoryview(buf)[:n])
            size += n
    return hasher.hexdigest(), size


def _pieces(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as fh:
        fh.seek(start)
        left = length
        while left:
            data = fh.read(min(PIECE, left))
            if not data:
                raise RuntimeError(f"{path} ended early")
            left -= len(data)
            yield data


class Remote:
    """One caller of a satchel server (a bearer token), synchronous."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=url + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(600.0),
        )

    def close(self) -> None:
        self.http.close()

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/artifacts", json=body)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"create: {response.status_code} {response.text[:500]}")
        return dict(response.json())

    def create_file(self, name: str, sha256: str, size: int) -> dict[str, Any]:
        """A one-file artifact whose bytes are still to come (``pending``)."""
        return self._create(
            {
                "name": name,
                "kind": "checkpoint",
                "files": [{"path": name, "sha256": sha256, "bytes": size}],
            }
        )

    @staticmethod
    def upload_route(artifact_id: str, path: str) -> str:
        return f"/artifacts/{artifact_id}/uploads/{quote(path, safe='')}"

    @staticmethod
    def file_route(artifact_id: str, path: str) -> str:
        return f"/artifacts/{artifact_id}/files/{quote(path, safe='')}"

    def save_file(self, path: Path, *, name: str) -> dict[str, Any]:
        """Hash, create, upload in chunks; returns the completed artifact's JSON, with
        ``timings``: the hash's seconds and each chunk request's (the last one includes
        the server's check of the whole file and its move into the blob store)."""
        started = time.perf_counter()
        sha, size = sha256_file(path)
        timings: dict[str, Any] = {"hash": time.perf_counter() - started, "chunks": []}
        made = self.create_file(name, sha, size)
        aid = made["artifact_id"]
        route = self.upload_route(aid, name)
        offset = 0
        state: dict[str, Any] = {"artifact_status": made["status"]}
        while made["status"] != "completed" and offset < size:
            length = min(UPLOAD_CHUNK, size - offset)
            started = time.perf_counter()
            response = self.http.put(
                route,
                params={"offset": offset},
                content=_pieces(path, offset, length),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                },
            )
            if response.status_code != 200:
                raise RuntimeError(f"upload: {response.status_code} {response.text[:500]}")
            timings["chunks"].append(time.perf_counter() - started)
            state = response.json()
            offset = int(state["received"])
        if state["artifact_status"] != "completed":
            raise RuntimeError(f"upload ended with the artifact {state['artifact_status']}")
        return {**made, "status": "completed", "sha256": sha, "bytes": size, "timings": timings}

    def download(self, artifact_id: str, path: str, dest: Path, *, sha256: str) -> int:
        """Stream a file to ``dest``, hashing as it arrives; raises on a mismatch."""
        hasher = hashlib.sha256()
        size = 0
        route = self.file_route(artifact_id, path)
        with self.http.stream("GET", route) as response, open(dest, "wb") as out:
            if response.status_code != 200:
                raise RuntimeError(f"download: {response.status_code}")
            announced = response.headers.get("X-Satchel-SHA256")
            for piece in response.iter_bytes():
                hasher.update(piece)
                out.write(piece)
                size += len(piece)
        if hasher.hexdigest() != sha256 or announced != sha256:
            raise IntegrityMismatchError(f"downloaded {path}: SHA-256 mismatch")
        return size

    def landed(self, artifact_id: str) -> int:
        """How many files of a completed artifact are completed (0 when it is not)."""
        response = self.http.get(f"/artifacts/{artifact_id}")
        response.raise_for_status()
        art = response.json()
        done = [f for f in art["files"] if f["status"] == "completed"]
        return len(done) if art["status"] == "completed" else 0

    def delete(self, artifact_id: str) -> None:
        response = self.http.delete(f"/artifacts/{artifact_id}")
        if response.status_code != 204:
            raise RuntimeError(f"delete: {response.status_code} {response.text[:500]}")
