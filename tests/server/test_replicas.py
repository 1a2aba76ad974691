"""Two ``satchel serve`` processes on one PostgreSQL index and one SeaweedFS bucket serve the
same data: an upload begun on one finishes on the other, a grant made on one holds on the
other, a link one signs the other accepts (the secret is configuration), a revoke on one
ends it on both. Also the first start: one org, one admin, one login printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import pgserver
from _seaweed import Seaweed, unique_prefix
from serverkit import file_entry, free_port

SECRET = "replica-secret-0123456789abcdef"


class Process:
    """One ``satchel serve`` child and what it printed."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("w")
        self.child = subprocess.Popen(
            [sys.executable, "-m", "satchel.cli", "serve", "--port", str(self.port)],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"satchel serve did not start:\n{log.read_text()}")
            time.sleep(0.1)

    def printed(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        self.child.terminate()
        try:
            self.child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        self._out.close()


@pytest.fixture
def replicas(seaweed: Seaweed, tmp_path: Path) -> Iterator[tuple[Process, Process]]:
    index = pgserver.index_url()
    base = {
        **os.environ,
        "SATCHEL_STORE": seaweed.url(unique_prefix()),
        "SATCHEL_INDEX": index,
        "SATCHEL_SECRET": SECRET,
        "SATCHEL_UPLOAD_DIR": str(tmp_path / "shared-uploads"),
    }
    started: list[Process] = []
    try:
        for name in ("one", "two"):
            env = {**base, "SATCHEL_HOME": str(tmp_path / name)}
            started.append(Process(env, tmp_path / f"{name}.log"))
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()
        pgserver.release()


def test_two_processes_serve_the_same_data(replicas: tuple[Process, Process]) -> None:
    one, two = replicas
    login = re.search(r"token:\s+(\S+)", one.printed())
    assert login is not None, one.printed()
    assert "token:" not in two.printed()  # the second start found the org made
    auth = {"Authorization": f"Bearer {login.group(1)}"}
    a = httpx.Client(base_url=one.url, headers=auth, timeout=60)
    b = httpx.Client(base_url=two.url, headers=auth, timeout=60)
    anonymous = httpx.Client(timeout=60)
    try:
        me = a.get("/api/v1/me").json()
        data = os.urandom(3 * 1024 * 1024)
        made = a.post(
            "/api/v1/artifacts",
            json={"run_id": "rep", "files": [file_entry("w.bin", data)]},
        ).json()
        aid = made["artifact_id"]
        route = f"/api/v1/artifacts/{aid}/uploads/w.bin"
        half = len(data) // 2
        assert a.put(route, params={"offset": 0}, content=data[:half]).json()["received"] == half
        assert b.get(route).json()["received"] == half  # the shared staging area
        done = b.put(route, params={"offset": half}, content=data[half:]).json()
        assert done["artifact_status"] == "completed"
        assert a.get(f"/api/v1/artifacts/{aid}/files/w.bin").content == data

        # A user of another org, made on one process, granted on the other.
        org = a.post(f"/api/v1/orgs/{me['org_id']}/users", json={"email": "peer@example.com"})
        assert org.status_code == 201
        grant = b.post(f"/api/v1/artifacts/{aid}/grants", json={"email": "peer@example.com"})
        assert grant.status_code == 201

        # A link signed by one process works on the other, until the artifact is deleted.
        link = a.post(f"/api/v1/artifacts/{aid}/links", json={}).json()["url"]
        on_two = link.replace(one.url, two.url)
        redirected = anonymous.get(on_two)
        assert redirected.status_code == 307  # S3: to a short-lived bucket URL
        assert anonymous.get(redirected.headers["location"]).content == data
        assert anonymous.get(link).status_code == 307
        tampered = on_two.replace("&e=", "&e=9")
        assert anonymous.get(tampered).status_code == 403

        assert a.patch("/api/v1/runs/rep", json={"status": "done"}).status_code == 200
        assert b.get("/api/v1/runs/rep").json()["status"] == "done"
        assert a.delete(f"/api/v1/artifacts/{aid}").status_code == 204
        assert anonymous.get(on_two).status_code == 404
        assert b.get(f"/api/v1/artifacts/{aid}").status_code == 404
    finally:
        a.close()
        b.close()
        anonymous.close()
