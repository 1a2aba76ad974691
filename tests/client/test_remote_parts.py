"""The remote SDK on a server with an S3 store: large files go straight to the bucket in
parts through presigned URLs, and a client killed at 60 % of a file resumes in the next
process, sending again at most the part that was cut (issue: "resumes from the last
acknowledged chunk and re-sends at most one chunk").

Everything is real: SeaweedFS, the satchel server on uvicorn, the SDK in this process or
in a child process that gets SIGKILL. The store's S3 endpoint is an HTTP proxy
(``_bucket_proxy.py``) that sees every part PUT, and holds one to freeze the child there.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import satchel
from _seaweed import Seaweed, unique_prefix
from client._bucket_proxy import BucketProxy
from satchel.client import _parts
from satchel.config import Settings
from satchel.server import ServerSettings, create_app
from serverkit import SECRET, serving, state_of

CHILD = Path(__file__).with_name("_save_child.py")
PART = 5 * 1024 * 1024
SIZE = 6 * PART + 1234  # seven parts, the last one short


@dataclass
class S3Server:
    app: FastAPI
    url: str
    proxy: BucketProxy
    token: str
    client_home: Path

    def context(self, **fields: object) -> satchel.Context:
        settings = Settings.load(
            environ={}, home=str(self.client_home), store=self.url, upload_chunk=PART
        )
        return satchel.Context(settings=settings, token=self.token, **fields)  # type: ignore[arg-type]

    @property
    def chunk_bytes(self) -> int:
        """Bytes that chunk uploads brought to the server itself."""
        return state_of(self.app).staging.bytes_received


@pytest.fixture
def s3_server(seaweed: Seaweed, tmp_path: Path) -> Iterator[S3Server]:
    proxy = BucketProxy(seaweed.endpoint)
    store = Settings.load(
        environ={},
        home=str(tmp_path / "server-home"),
        store=f"s3://{seaweed.bucket}/{unique_prefix()}?endpoint={proxy.url}&part_size=5MiB",
    )
    app = create_app(
        ServerSettings.load(
            environ={}, store=store, secret=SECRET, upload_dir=str(tmp_path / "uploads")
        )
    )
    tenancy = state_of(app).tenancy
    org = tenancy.create_org("org-parts")
    user = tenancy.create_user(email="parts@example.com", org_id=org.org_id, role="member")
    _, token = tenancy.create_token(user.user_id, name="test")
    try:
        with serving(app) as url:
            yield S3Server(app, url, proxy, token, tmp_path / "client-home")
    finally:
        proxy.close()
        state_of(app).close()


def _source(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def _journal(server: S3Server) -> list[Path]:
    return sorted(server.client_home.glob("remote/*/uploads/*.json"))


async def test_a_large_file_goes_to_the_bucket_in_parts(s3_server: S3Server, tmp_path) -> None:
    source, data = _source(tmp_path)
    ctx = s3_server.context(run_id="parts")
    try:
        arts = ctx.artifacts()
        small = await arts.save_text("x" * 1000, name="small.txt")
        a = await arts.save_file(source, kind="checkpoint")
        assert a.status == "completed" and a.sha256 == hashlib.sha256(data).hexdigest()
        assert await arts.load_bytes_by_id(a.artifact_id) == data
        assert await arts.load_text_by_id(small.artifact_id) == "x" * 1000
    finally:
        await ctx.aclose()
    assert all(p.presigned for p in s3_server.proxy.parts)
    assert sorted(p.number for p in s3_server.proxy.parts) == list(range(1, 8))
    assert s3_server.proxy.part_bytes == SIZE  # each byte once, straight to the bucket
    assert s3_server.chunk_bytes == 0  # none through the server
    assert _journal(s3_server) == []


def _child(server: S3Server, source: Path) -> subprocess.Popen[str]:
    args = [server.url, server.token, str(server.client_home), str(source), str(PART)]
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_a_client_killed_at_60_percent_resumes_sending_at_most_one_part_again(
    s3_server: S3Server, tmp_path: Path
) -> None:
    source, data = _source(tmp_path)
    proxy = s3_server.proxy
    proxy.hold(SIZE * 6 // 10)  # part 5 is cut after 0.2 of its bytes
    child = _child(s3_server, source)
    assert proxy.triggered.wait(120), child.communicate()[1]
    child.send_signal(signal.SIGKILL)
    child.communicate()
    proxy.release()
    records = _journal(s3_server)
    assert len(records) == 1, "the save is in the resume journal"
    record = json.loads(records[0].read_text())
    artifact_id, upload = record["artifact_id"], record["multipart"]["big.bin"]
    owner = {"Authorization": f"Bearer {s3_server.token}"}
    state = httpx.get(
        f"{s3_server.url}/api/v1/artifacts/{artifact_id}/multipart/{upload}", headers=owner
    ).json()
    held = [p["number"] for p in state["uploaded"]]
    assert held == [1, 2, 3], "the parts acknowledged before the kill are in the bucket"
    first_try = list(proxy.parts)
    assert [(p.number, p.forwarded) for p in first_try][-1] == (4, False)

    retry = _child(s3_server, source)
    out, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err
    assert out.split() == [artifact_id], "the retry resumed the same artifact"
    second_try = proxy.parts[len(first_try) :]
    assert [p.number for p in second_try] == [4, 5, 6, 7], "only the missing parts"
    resent = proxy.part_bytes - SIZE
    assert 0 <= resent <= PART, f"{resent} bytes were sent twice"
    assert s3_server.chunk_bytes == 0
    assert _journal(s3_server) == []
    ctx = s3_server.context(run_id="resume-run")
    try:
        arts = ctx.artifacts()
        found = await arts.list()
        assert [a.artifact_id for a in found] == [artifact_id]
        assert found[0].sha256 == hashlib.sha256(data).hexdigest()
        assert await arts.load_bytes_by_id(artifact_id) == data
    finally:
        await ctx.aclose()


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: connecting there is refused


async def test_a_bucket_the_client_cannot_reach_falls_back_to_chunks_through_the_server(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, data = _source(tmp_path)
    nowhere = f"http://127.0.0.1:{_refused_port()}"

    def unreachable(self: _parts.PartSender) -> httpx.Client:
        # The client reaches the bucket only through a proxy that refuses connections.
        return httpx.Client(proxy=nowhere, timeout=10)

    monkeypatch.setattr(_parts.PartSender, "_http", unreachable)
    ctx = s3_server.context(run_id="fallback")
    try:
        arts = ctx.artifacts()
        a = await arts.save_file(source, kind="checkpoint")
        other = tmp_path / "other.bin"
        other.write_bytes(data[::-1])
        b = await arts.save_file(other, kind="checkpoint")  # the process knows: no try
        assert await arts.load_bytes_by_id(a.artifact_id) == data
        assert await arts.load_bytes_by_id(b.artifact_id) == data[::-1]
    finally:
        await ctx.aclose()
    assert [p for p in s3_server.proxy.parts if p.presigned] == [], "no part by URL"
    assert s3_server.chunk_bytes == 2 * SIZE, "both files went through the server"
    blobs = state_of(s3_server.app).store.blobs
    from datetime import timedelta  # noqa: PLC0415

    assert list(blobs.iter_garbage(older_than=timedelta(0))) == []  # type: ignore[attr-defined]
    assert _journal(s3_server) == []
