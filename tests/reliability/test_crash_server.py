"""Crash matrix of the server (P1, P2, P3): a live ``satchel serve`` is SIGKILLed at every
named step of its upload paths, then started again on the same store.

Each case: a client process (the remote SDK) saves some artifacts (acknowledged), arms the
server's crash hook and starts one more save; the server dies at the named point
(``_launch.py`` installs the hook). Then, with the server down, ``fsck --read-data`` finds
no damage; with it up again, every acknowledged artifact verifies, the interrupted one is
not visible as completed (pending at most, and only to its uploader) unless the index had
completed it before the kill, and the same save run again resumes the same artifact and
completes it whole. Finally ``fsck`` again.

Two pairs: the embedded default (local directory + SQLite; chunked uploads through the
server's staging directory) and SeaweedFS S3 + PostgreSQL (parts PUT straight to the bucket
by presigned URL, then ``complete``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _harness import (
    KIB,
    MIB,
    check_after_crash,
    child_command,
    child_env,
    collect_after_crash,
    expected_of,
    random_bytes,
    read_records,
    remote_context,
    sha,
)

import pgserver
import satchel
from _seaweed import Seaweed, unique_prefix
from satchel.fsck import FsckReport
from satchel.server import ServerSettings
from satchel.server.state import ServerState
from satchel.store import ArtifactStore
from serverkit import free_port

LAUNCH = Path(__file__).with_name("_launch.py")
SECRET = "crash-secret-0123456789abcdef"
RUN_ID = "crash-server"
#: Named points of the chunked upload through staging, in the order a file passes them.
LOCAL_POINTS = (
    "upload.part_staged",
    "upload.staged_complete",
    "blob.fsynced",  # inside the publish: the staged file moved to a temp name
    "upload.published",
    "upload.completed",
)
#: Named points of ``complete`` of a multipart upload straight to the bucket.
S3_POINTS = ("parts.joined", "upload.published", "upload.completed")


class Server:
    """One ``satchel serve`` child, started through the crash launcher."""

    def __init__(
        self, env: dict[str, str], log: Path, crash: dict[str, str], port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("a")
        self.child = subprocess.Popen(
            [sys.executable, "-W", "error", str(LAUNCH), "serve", "--port", str(self.port)],
            env={**env, **crash},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            if self.child.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"satchel serve did not start:\n{log.read_text()}")
            time.sleep(0.05)

    def token(self) -> str:
        found = re.search(r"token:\s+(\S+)", self.log.read_text())
        assert found is not None, self.log.read_text()
        return found.group(1)

    def killed(self, timeout: float = 60) -> bool:
        """Wait for the crash hook to kill the server; True if it died by SIGKILL."""
        try:
            code = self.child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        finally:
            self._out.close()
        return code == -signal.SIGKILL

    def stop(self) -> None:
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self._out.close()


@dataclass(frozen=True)
class Pair:
    """A backend pair: the server's environment and the store's settings."""

    env: dict[str, str]
    settings: satchel.Settings
    chunk: int  # the client's upload chunk (the part size on S3)

    def store(self) -> ArtifactStore:
        return ArtifactStore.open(self.settings)


@dataclass(frozen=True)
class Inputs:
    acked: list[tuple[str, dict[str, Any]]]
    final: dict[str, Any]


def _inputs(root: Path, final_size: int) -> Inputs:
    root.mkdir(parents=True, exist_ok=True)
    (root / "acked.bin").write_bytes(random_bytes(300 * KIB, "server-acked"))
    (root / "final.bin").write_bytes(random_bytes(final_size, "server-final"))
    acked = [
        ("acked-text", {"kind": "text", "text": "acknowledged before the crash ✓"}),
        ("acked-file", {"kind": "file", "path": str(root / "acked.bin")}),
    ]
    return Inputs(acked=acked, final={"kind": "file", "path": str(root / "final.bin")})


def _server_env(tmp: Path, **values: str) -> dict[str, str]:
    env = child_env()
    env.update(SATCHEL_HOME=str(tmp / "server"), SATCHEL_SECRET=SECRET, **values)
    return env


@pytest.fixture
def local_pair(tmp_path: Path) -> Pair:
    home = tmp_path / "server"
    return Pair(
        env=_server_env(tmp_path),
        settings=satchel.Settings.load(environ={}, home=str(home)),
        chunk=1 * MIB,
    )


@pytest.fixture
def s3_pair(seaweed: Seaweed, tmp_path: Path) -> Iterator[Pair]:
    store, index = seaweed.url(unique_prefix()), pgserver.index_url()
    yield Pair(
        env=_server_env(tmp_path, SATCHEL_STORE=store, SATCHEL_INDEX=index),
        settings=satchel.Settings.load(
            environ={}, home=str(tmp_path / "server"), store=store, index=index
        ),
        chunk=5 * MIB,  # S3's smallest part
    )
    pgserver.release()


def _fsck(pair: Pair) -> FsckReport:
    with contextlib.closing(pair.store()) as store:
        return check_after_crash(store)


def _peer(pair: Pair, org_id: str) -> dict[str, str]:
    """Headers of another member of the organisation, made in the store while the server
    is down."""
    state = ServerState.open(ServerSettings.load(environ={}, store=pair.settings, secret=SECRET))
    try:
        user = state.tenancy.create_user(email="peer@example.com", org_id=org_id, role="member")
        _, token = state.tenancy.create_token(user.user_id, name="peer")
    finally:
        state.close()
    return {"Authorization": f"Bearer {token}"}


def _resume_record(client_home: Path) -> str:
    """The id of the save cut short, from the client's resume journal."""
    records = sorted(client_home.glob("remote/*/uploads/*.json"))
    assert len(records) == 1, records
    artifact_id: str = json.loads(records[0].read_text())["artifact_id"]
    return artifact_id


def crash_case(pair: Pair, point: str, inputs: Inputs, tmp: Path) -> None:
    """One cell of the matrix: kill the server at ``point``, restart, check, resume."""
    armed = tmp / "armed"
    crash = {"CRASH_POINT": point, "CRASH_ARMED": str(armed)}
    log = tmp / "server.log"
    server = Server(pair.env, log, crash)
    me = httpx.get(f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {server.token()}"})
    org_id = me.json()["org_id"]
    cfg = {
        "mode": "remote",
        "url": server.url,
        "token": server.token(),
        "home": str(tmp / "client"),
        "chunk": pair.chunk,
        "run_id": RUN_ID,
        "ack": str(tmp / "ack.jsonl"),
        "acked": inputs.acked,
        "armed": str(armed),
        "final": inputs.final,
    }
    client = subprocess.Popen(
        child_command(tmp / "cfg", cfg),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        died = server.killed()
    finally:
        client.kill()
        _, client_err = client.communicate()
        server.stop()
    assert died, f"the server was not killed at {point}:\n{log.read_text()}\n{client_err}"
    acks = {r["seq"]: r["id"] for r in read_records(tmp / "ack.jsonl")}
    assert set(acks) == {seq for seq, _ in inputs.acked}, client_err
    final_id = _resume_record(tmp / "client")

    # The server is down: the store holds no damage, only what a crash may leave.
    _fsck(pair)
    peer = _peer(pair, org_id)

    # The same address: a client's resume journal is kept per server.
    server = Server(pair.env, log, {}, port=server.port)
    try:
        headers = {"Authorization": f"Bearer {cfg['token']}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            for seq, payload in inputs.acked:
                exp = expected_of(payload)
                got = http.get(f"/api/v1/artifacts/{acks[seq]}").json()
                assert got["status"] == "completed", got
                assert (got["sha256"], got["bytes"]) == (exp["sha256"], exp["bytes"])
            cut = http.get(f"/api/v1/artifacts/{final_id}")
            # Completed only when the index committed it before the kill; pending (and
            # visible to its uploader only) otherwise.
            assert cut.status_code == 200, cut.text
            state = "completed" if point == "upload.completed" else "pending"
            assert cut.json()["status"] == state
            assert httpx.get(f"{server.url}/api/v1/artifacts/{final_id}").status_code == 401
            # A member of the same organisation reads what completed, and sees nothing of a
            # pending upload.
            with httpx.Client(base_url=server.url, headers=peer, timeout=60) as other:
                for artifact_id in acks.values():
                    assert other.get(f"/api/v1/artifacts/{artifact_id}").status_code == 200
                seen = other.get(f"/api/v1/artifacts/{final_id}").status_code
                assert seen == (200 if state == "completed" else 404)
        with remote_context(cfg) as ctx:
            arts = ctx.sync_artifacts()
            listed = {a.artifact_id for a in arts.list(level="run")}
            assert listed == set(acks.values()) | ({final_id} if state == "completed" else set())
            for seq, payload in inputs.acked:
                assert sha(arts.load_bytes_by_id(acks[seq])) == expected_of(payload)["sha256"]
            # The same save again resumes the artifact that was cut short.
            again = arts.save_file(inputs.final["path"], kind="checkpoint", labels={"seq": "final"})
            assert again.artifact_id == final_id
            exp = expected_of(inputs.final)
            assert (again.status, again.sha256, again.bytes) == (
                "completed",
                exp["sha256"],
                exp["bytes"],
            )
            assert sha(arts.load_bytes_by_id(final_id)) == exp["sha256"]
            listed = {a.artifact_id for a in arts.list(level="run")}
            assert listed == set(acks.values()) | {final_id}
        assert not list((tmp / "client").glob("remote/*/uploads/*.json"))
    finally:
        server.stop()
    report = _fsck(pair)
    assert not [w for w in report.warnings if w.kind == "stale_pending"]
    with contextlib.closing(pair.store()) as store:
        collect_after_crash(store)
    if pair.settings.store is None:  # the local pair: the staging area is cleared too
        staged = [p for p in (tmp / "server" / "uploads").rglob("*") if p.is_file()]
        assert staged == [], f"staged files left behind: {staged}"


@pytest.mark.slow
@pytest.mark.parametrize("point", LOCAL_POINTS)
def test_server_killed_during_a_chunked_upload(
    point: str, local_pair: Pair, tmp_path: Path
) -> None:
    inputs = _inputs(tmp_path / "inputs", 3 * MIB + 4321)
    crash_case(local_pair, point, inputs, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("point", S3_POINTS)
def test_server_killed_completing_a_multipart_upload(
    point: str, s3_pair: Pair, tmp_path: Path
) -> None:
    inputs = _inputs(tmp_path / "inputs", 11 * MIB + 4321)
    crash_case(s3_pair, point, inputs, tmp_path)


def test_matrix_names_real_points() -> None:
    from satchel import _faults  # noqa: PLC0415

    assert set(LOCAL_POINTS + S3_POINTS) <= set(_faults.POINTS)
    assert {p for p in _faults.POINTS if p.startswith(("upload.", "parts."))} <= set(
        LOCAL_POINTS + S3_POINTS
    )
    assert os.path.exists(LAUNCH)
