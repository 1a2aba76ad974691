"""Against a real uvicorn on a free port: a client killed mid-upload, and a damaged blob
cut off on the socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from satchel.hashing import Digest
from satchel.storage.local import LocalBlobStore
from serverkit import World, create, state_of, upload

CHILD = Path(__file__).with_name("_upload_child.py")
SIZE = 64 * 1024 * 1024
CHUNK = 4 * 1024 * 1024


def _run_child(url: str, token: str, aid: str, source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), url, token, aid, "big.bin", str(source), str(CHUNK)],
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("server_kind", ["local"], indirect=True)
async def test_a_killed_upload_resumes_and_resends_at_most_one_chunk(
    app: FastAPI, world: World, live_url: str, tmp_path: Path
) -> None:
    owner = world.member("owner", "a")
    source = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    source.write_bytes(data)
    async with world.client("owner") as http:
        aid = (await create(http, {"big.bin": data}, inline=False))["artifact_id"]
    staging = state_of(app).staging

    child = _run_child(live_url, owner.token, aid, source)
    assert child.stdout is not None
    acked = 0
    while acked < SIZE * 6 // 10:
        line = child.stdout.readline()
        assert line, "the uploading child ended early"
        acked = int(line)
    time.sleep(0.03)  # into the next chunk
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    time.sleep(0.3)  # the server notices the dropped connection
    kept = staging.received(aid, "big.bin")
    assert SIZE * 6 // 10 <= kept < SIZE

    retry = _run_child(live_url, owner.token, aid, source)
    out, _ = retry.communicate(timeout=120)
    assert retry.returncode == 0
    assert out.splitlines()[-1].startswith("done ")
    resent = staging.bytes_received - SIZE
    assert 0 <= resent <= CHUNK, f"{resent} bytes were sent twice"

    async with world.client("owner") as http:
        got = await http.get(f"/api/v1/artifacts/{aid}")
        assert got.json()["status"] == "completed"
        assert got.json()["sha256"] == Digest.parse(got.json()["sha256"]).hexdigest
        body = await http.get(f"/api/v1/artifacts/{aid}/files/big.bin")
        assert body.content == data


@pytest.mark.parametrize("server_kind", ["local"], indirect=True)
async def test_a_damaged_blob_is_cut_off_on_the_socket(
    app: FastAPI, world: World, live_url: str
) -> None:
    owner = world.member("owner", "a")
    data = os.urandom(5 * 1024 * 1024)
    async with world.client("owner") as http:
        made = await create(http, {"d.bin": data}, inline=False)
        await upload(http, made["artifact_id"], "d.bin", data)
    blobs = state_of(app).store.blobs
    assert isinstance(blobs, LocalBlobStore)
    path = blobs.blob_path(Digest(hexdigest=made["sha256"]))
    path.chmod(0o644)
    damaged = bytearray(path.read_bytes())
    damaged[-10] ^= 1
    path.write_bytes(bytes(damaged))
    received = bytearray()
    url = f"{live_url}/api/v1/artifacts/{made['artifact_id']}/files/d.bin"
    with pytest.raises(httpx.RemoteProtocolError):
        async with (
            httpx.AsyncClient(headers={"Authorization": f"Bearer {owner.token}"}) as http,
            http.stream("GET", url) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-length"] == str(len(data))
            async for piece in response.aiter_bytes():
                received += piece
    assert len(received) < len(data)
