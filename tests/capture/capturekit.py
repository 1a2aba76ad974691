"""Where the capture tests store: the embedded default, or a live satchel server.

``satchel run`` is started as a real process (``python -m satchel.cli run``), so that it can
be signalled and SIGKILLed; the test reads what it stored straight from the store (the
embedded store's directory, or the server's own ``ArtifactStore``).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from satchel.config import Settings
from satchel.index.base import ArtifactQuery
from satchel.models import Artifact
from satchel.store import ArtifactStore

WHERE = ["embedded", "server"]


@dataclass
class Where:
    """A target for ``satchel run``: its options, environment and the store it fills."""

    kind: str
    args: list[str]
    env: dict[str, str]
    store: ArtifactStore
    home: Path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "satchel.cli", "run", *self.args, *args]

    def start(self, *args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            cwd=cwd,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **kwargs,
        )

    def run(self, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=cwd,
            env=self.env,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def artifacts(self, run_id: str) -> list[Artifact]:
        return self.store.query(ArtifactQuery(equals={"run_id": run_id}))

    def captured(self, run_id: str) -> dict[tuple[str, int], Artifact]:
        """``(capture_path, capture_version)`` -> artifact; fails on a duplicate."""
        found: dict[tuple[str, int], Artifact] = {}
        for art in self.artifacts(run_id):
            if "capture_path" not in art.labels:
                continue
            key = (str(art.labels["capture_path"]), int(art.labels["capture_version"]))
            assert key not in found, f"stored twice: {key}"
            found[key] = art
        return found

    def status(self, run_id: str) -> str | None:
        run = self.store.get_run(run_id)
        return None if run is None else run.status

    def journal_rows(self, run_id: str) -> list[tuple[str, int, str]]:
        path = self.home / "capture" / f"{run_id}.journal"
        if not path.exists():
            return []
        try:
            with sqlite3.connect(path, timeout=5) as db:
                return db.execute("SELECT rel, version, state FROM files").fetchall()
        except sqlite3.OperationalError:
            return []


def child_env(home: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    env["SATCHEL_HOME"] = str(home)
    env["SATCHEL_CREDENTIALS"] = str(tmp_path / "credentials.json")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(params=WHERE)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Where]:
    home = tmp_path / "home"
    env = child_env(home, tmp_path)
    if request.param == "embedded":
        store = ArtifactStore.open(Settings.load(environ={}, home=str(home)))
        try:
            yield Where("embedded", [], env, store, home)
        finally:
            store.close()
    else:
        world = request.getfixturevalue("remote")
        member = world.member()
        yield Where(
            "server", ["--server", world.url, "--token", member.token], env, world.store, home
        )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def wait_for(predicate: Any, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
