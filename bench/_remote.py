"""The satchel side of the ``--server`` figures: the HTTP API of docs/api.md over httpx.

The remote SDK (``satchel.Context(store="http://...")``) is not on this branch yet, so the
benchmark drives the API itself the way the SDK will: hash the file, create the artifact
with its file list, send the bytes in chunks with their offsets (the last chunk completes
the file once the server verified its SHA-256), and stream downloads to disk while hashing
them. Small files travel inline (base64) in the create request: one request, one durable
transaction for a whole directory.
"""

from __future__ import annotations

import base64
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

    def save_dir(self, root: Path, *, name: str) -> dict[str, Any]:
        """Every file under ``root`` inline in one create request: one artifact."""
        files = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            files.append(
                {
                    "path": path.relative_to(root).as_posix(),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                    "content": base64.b64encode(data).decode("ascii"),
                }
            )
        return self._create({"name": name, "kind": "dataset", "directory": True, "files": files})

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

    def delete(self, artifact_id: str) -> None:
        response = self.http.delete(f"/artifacts/{artifact_id}")
        if response.status_code != 204:
            raise RuntimeError(f"delete: {response.status_code} {response.text[:500]}")
