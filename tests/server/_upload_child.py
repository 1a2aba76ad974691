"""A client uploading one file in chunks, resuming from what the server has (the resume
test runs it in a child process and kills it with SIGKILL).

Usage: ``python _upload_child.py URL TOKEN ARTIFACT_ID PATH SOURCE CHUNK``. Prints the
acknowledged offset after each chunk, then ``done <bytes sent>``. Chunks are streamed in
small pieces with a short pause, so that a kill lands in the middle of one.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import httpx

PIECE = 256 * 1024


def pieces(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), PIECE):
        time.sleep(0.004)
        yield data[start : start + PIECE]


def main() -> None:
    url, token, artifact_id, path, source, chunk_text = sys.argv[1:7]
    chunk = int(chunk_text)
    size = os.path.getsize(source)
    route = f"/api/v1/artifacts/{artifact_id}/uploads/{path}"
    sent = 0
    with (
        httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http,
        open(source, "rb") as fh,
    ):
        offset = int(http.get(route).json()["received"])
        while offset < size:
            fh.seek(offset)
            data = fh.read(chunk)
            response = http.put(route, params={"offset": offset}, content=pieces(data))
            response.raise_for_status()
            sent += len(data)
            offset = int(response.json()["received"])
            print(offset, flush=True)
    print(f"done {sent}", flush=True)


if __name__ == "__main__":
    main()
