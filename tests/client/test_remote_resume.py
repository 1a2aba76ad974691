"""Uploads resume: a dropped connection, or a client process killed at 60 % of a file, costs
at most one chunk sent again (issue 5: "a client that dies at 60% ... resumes from the last
acknowledged chunk and re-sends at most one chunk").

The server counts every byte that chunk requests bring (``Staging.bytes_received``): what
it received beyond the file's size was sent twice. Connections break in a TCP proxy
between client and server (``_proxy.py``), the way a network or a dying process breaks them.

The chunked uploads run on the ``remote`` pair only: on an S3 server (``remote-s3pg``) the
SDK sends a file larger than one chunk straight to the bucket in presigned parts, never
through the server, and the same promise for parts (a client killed at 60 % sends at most
one part again) is held by ``test_remote_parts.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from client._proxy import Proxy
from remotekit import RemoteWorld, on_both_pairs
from serverkit import state_of

CHILD = Path(__file__).with_name("_save_child.py")
CHUNK = 256 * 1024
SIZE = 16 * CHUNK + 1234


def _source(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(SIZE)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


#: Chunks through the server: the ``remote`` pair (see the module's docstring).
chunked_pair = pytest.mark.parametrize("remote", ["remote"], indirect=True)


@chunked_pair
async def test_a_dropped_connection_resumes_where_the_server_got_to(remote, tmp_path):
    staging = state_of(remote.app).staging
    source, data = _source(tmp_path)
    proxy = Proxy(remote.url)
    try:
        arts = remote.context(run_id="r1", url=proxy.url, upload_chunk=CHUNK).artifacts()
        proxy.arm("cut", proxy.sent + SIZE * 6 // 10)
        before = staging.bytes_received
        a = await arts.save_file(source, kind="checkpoint")
        assert proxy.triggered.is_set(), "the connection was never cut"
        resent = staging.bytes_received - before - SIZE
        assert 0 <= resent <= CHUNK, f"{resent} bytes were sent twice"
        assert a.status == "completed"
        assert a.sha256 == hashlib.sha256(data).hexdigest()
        assert await arts.load_bytes_by_id(a.artifact_id) == data
        assert [x.artifact_id for x in await arts.list()] == [a.artifact_id]
    finally:
        proxy.close()


def _child(remote: RemoteWorld, url: str, source: Path) -> subprocess.Popen[str]:
    member = remote.member()
    return subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            url,
            member.token,
            str(remote.client_home),
            str(source),
            str(CHUNK),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _journal(remote: RemoteWorld) -> list[Path]:
    return sorted(remote.client_home.glob("remote/*/uploads/*.json"))


@chunked_pair
async def test_a_client_killed_mid_upload_resumes_in_the_next_process(remote, tmp_path):
    staging = state_of(remote.app).staging
    source, data = _source(tmp_path)
    proxy = Proxy(remote.url)
    before = staging.bytes_received
    try:
        proxy.arm("hold", SIZE * 6 // 10)  # the child's requests are counted from 0
        child = _child(remote, proxy.url, source)
        assert proxy.triggered.wait(60), child.communicate()[1]
        child.send_signal(signal.SIGKILL)
        child.communicate()
        proxy.drop_all()  # the dead process's connections close
        records = _journal(remote)
        assert len(records) == 1, "the save's id is in the resume journal"
        artifact_id = json.loads(records[0].read_text())["artifact_id"]
        kept, previous = 0, -1
        while kept != previous:  # until the server has noticed and kept what arrived
            time.sleep(0.2)
            previous, kept = kept, staging.received(artifact_id, "big.bin")
        assert SIZE // 2 <= kept < SIZE

        retry = _child(remote, proxy.url, source)
        out, err = retry.communicate(timeout=120)
        assert retry.returncode == 0, err
        assert out.split() == [artifact_id], "the retry resumed the same artifact"
        resent = staging.bytes_received - before - SIZE
        assert 0 <= resent <= CHUNK, f"{resent} bytes were sent twice"
        assert _journal(remote) == []
    finally:
        proxy.close()
    arts = remote.context(run_id="resume-run").artifacts()
    found = await arts.list()
    assert [a.artifact_id for a in found] == [artifact_id]
    assert found[0].sha256 == hashlib.sha256(data).hexdigest()
    assert await arts.load_bytes_by_id(artifact_id) == data


@on_both_pairs
async def test_the_same_bytes_saved_at_once_are_separate_artifacts(remote, tmp_path):
    source, data = _source(tmp_path)
    arts = remote.context(run_id="r1", upload_chunk=CHUNK).artifacts()
    saved = await asyncio.gather(*(arts.save_file(source, kind="blob") for _ in range(4)))
    assert len({a.artifact_id for a in saved}) == 4
    assert {a.sha256 for a in saved} == {hashlib.sha256(data).hexdigest()}
    for a in saved:
        assert await arts.load_bytes_by_id(a.artifact_id) == data
    assert _journal(remote) == []
