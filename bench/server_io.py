"""The server's own figures over loopback HTTP (raw httpx, no SDK): bulk upload and download
throughput, 1,000 small files as one artifact, and the server's peak RSS while it takes a
large upload and serves 32 downloads at once.

Usage: ``.venv/bin/python bench/server_io.py [--quick]`` (the dev install; about 2 min, or
20 s with ``--quick``). Starts ``satchel serve`` on a fresh ``SATCHEL_HOME`` in /tmp, reads
the token its first start prints, and kills it at the end. The server's peak RSS is read
from ``/proc/<pid>/status`` (``VmHWM``, reset through ``clear_refs`` before each phase).

MLflow's proxied artifacts (``mlflow server --serve-artifacts``) are the issue's peer; they
are not run here (the bench venv's ``mlflow-skinny`` has no server): the remote SDK's
benchmark compares them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

MIB = 1024 * 1024
GIB = 1024 * MIB
CHUNK = 64 * MIB


def _status_kib(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 16 * MIB))
            digest.update(block)
            out.write(block)
            left -= len(block)
    return digest.hexdigest()


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 * MIB):
            digest.update(block)
    return digest.hexdigest()


def _upload(http: httpx.Client, path: Path) -> tuple[str, float]:
    """Hash, create, send in chunks: what a client does for a large file."""
    start = time.perf_counter()
    sha = _hash(path)
    size = path.stat().st_size
    body = {"name": path.name, "files": [{"path": path.name, "sha256": sha, "bytes": size}]}
    made = http.post("/api/v1/artifacts", json=body).json()
    aid = made["artifact_id"]
    with path.open("rb") as fh:
        offset = 0
        while offset < size:
            data = fh.read(CHUNK)
            state = http.put(
                f"/api/v1/artifacts/{aid}/uploads/{path.name}",
                params={"offset": offset},
                content=data,
            ).json()
            offset = state["received"]
    assert state["artifact_status"] == "completed", state
    return aid, time.perf_counter() - start


async def _download(client: httpx.AsyncClient, url: str, sha: str) -> int:
    digest = hashlib.sha256()
    size = 0
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        async for piece in response.aiter_raw(MIB):
            digest.update(piece)
            size += len(piece)
    assert digest.hexdigest() == sha
    return size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    bulk = 256 * MIB if args.quick else GIB
    huge = GIB if args.quick else 4 * GIB
    work = Path(tempfile.mkdtemp(prefix="satchel-bench-server-"))
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "SATCHEL_HOME": str(work / "home")}
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX"):
        env.pop(name, None)
    log = (work / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "satchel.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    results: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
            if time.monotonic() > deadline:
                raise RuntimeError("satchel serve did not start")
        token = re.search(r"token:\s+(\S+)", (work / "serve.log").read_text())
        assert token is not None
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        http = httpx.Client(base_url=base, headers=auth, timeout=600)

        # 1,000 small files (2 KiB of text each) as one artifact: one request.
        tree = work / "small"
        tree.mkdir()
        for i in range(1000):
            (tree / f"metrics-{i:04d}.txt").write_text(f"step {i} loss {1 / (i + 1):.6f}\n" * 80)
        start = time.perf_counter()
        files = []
        for item in sorted(tree.iterdir()):
            data = item.read_bytes()
            files.append(
                {
                    "path": item.name,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                    "content": base64.b64encode(data).decode(),
                }
            )
        made = http.post("/api/v1/artifacts", json={"name": "small", "files": files}).json()
        elapsed = time.perf_counter() - start
        assert made["status"] == "completed"
        results["small_files_per_s"] = round(1000 / elapsed)

        # Bulk upload and download.
        source = work / "bulk.bin"
        sha = _random_file(source, bulk)
        _reset_peak(server.pid)
        aid, seconds = _upload(http, source)
        results["upload_mib_s"] = round(bulk / MIB / seconds)
        start = time.perf_counter()

        async def one_download() -> int:
            async with httpx.AsyncClient(headers=auth, timeout=600) as client:
                return await _download(client, f"{base}/api/v1/artifacts/{aid}/files/bulk.bin", sha)

        asyncio.run(one_download())
        results["download_mib_s"] = round(bulk / MIB / (time.perf_counter() - start))

        # 32 concurrent downloads of it.
        before = _status_kib(server.pid, "VmRSS")
        _reset_peak(server.pid)

        async def many() -> None:
            async with httpx.AsyncClient(headers=auth, timeout=600) as client:
                url = f"{base}/api/v1/artifacts/{aid}/files/bulk.bin"
                await asyncio.gather(*(_download(client, url, sha) for _ in range(32)))

        start = time.perf_counter()
        asyncio.run(many())
        results["32_downloads_mib_s"] = round(32 * bulk / MIB / (time.perf_counter() - start))
        results["32_downloads_server_rss_before_mib"] = before // 1024
        results["32_downloads_server_peak_rss_mib"] = _status_kib(server.pid, "VmHWM") // 1024
        source.unlink()

        # A very large upload.
        big = work / "huge.bin"
        _random_file(big, huge)
        before = _status_kib(server.pid, "VmRSS")
        _reset_peak(server.pid)
        _, seconds = _upload(http, big)
        results[f"upload_{huge // GIB}gib_mib_s"] = round(huge / MIB / seconds)
        results["large_upload_server_rss_before_mib"] = before // 1024
        results["large_upload_server_peak_rss_mib"] = _status_kib(server.pid, "VmHWM") // 1024
        http.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
