"""``satchel serve`` on the embedded default: the first start prints a login, once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from serverkit import free_port


def _serve(home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "SATCHEL_HOME": str(home)}
    for name in ("SATCHEL_STORE", "SATCHEL_INDEX", "SATCHEL_SECRET"):
        env.pop(name, None)
    with log.open("w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "satchel.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return child, url
        except httpx.TransportError:
            pass
        assert child.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    child.wait(timeout=20)


def test_first_start_prints_a_login_that_works(tmp_path: Path) -> None:
    home = tmp_path / "home"
    child, url = _serve(home, tmp_path / "first.log")
    try:
        printed = (tmp_path / "first.log").read_text()
        email = re.search(r"email:\s+(\S+)", printed)
        password = re.search(r"password:\s+(\S+)", printed)
        token = re.search(r"token:\s+(\S+)", printed)
        assert email and password and token, printed
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
        assert me.json()["role"] == "admin"
        login = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"email": email.group(1), "password": password.group(1)},
        )
        assert login.status_code == 201
        assert (home / "server-secret").stat().st_mode & 0o777 == 0o600
    finally:
        _stop(child)
    again, _ = _serve(home, tmp_path / "second.log")
    _stop(again)
    assert "token:" not in (tmp_path / "second.log").read_text()
