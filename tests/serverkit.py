"""The server under test: the real app on each backend pair, and a world of actors.

A pytest plugin of the root ``conftest.py`` (``pytest_plugins``): its fixtures are there for
every test; its helpers are imported by name (``from serverkit import create``).

``server_kind`` runs a test on the embedded default (local directory + SQLite) and on the
scale pair (SeaweedFS S3 + PostgreSQL). Requests go through ``httpx.ASGITransport`` into the
real application, no mocks; ``World`` holds organisations, users and their tokens as the
access matrix needs them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import pgserver
from conftest import make_settings
from satchel.config import Settings
from satchel.server import ServerSettings, create_app
from satchel.server.state import ServerState

SERVER_BACKENDS = ["local", "s3+postgres"]
SECRET = "test-secret-0123456789abcdef"
_emails = itertools.count()


@pytest.fixture(params=SERVER_BACKENDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server_settings(
    server_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ServerSettings]:
    seaweed = request.getfixturevalue("seaweed") if server_kind.startswith("s3") else None
    store = make_settings(server_kind, tmp_path, seaweed)
    yield ServerSettings.load(
        environ={}, store=store, secret=SECRET, upload_dir=str(tmp_path / "uploads")
    )
    pgserver.release()


@pytest.fixture
def app(server_settings: ServerSettings) -> Iterator[FastAPI]:
    application = create_app(server_settings)
    yield application
    application.state.satchel.close()


def state_of(app: FastAPI) -> ServerState:
    state: ServerState = app.state.satchel
    return state


@dataclass
class Member:
    """A user of the world with a token."""

    name: str
    user_id: str
    org_id: str
    email: str
    token: str


@dataclass
class World:
    """Organisations and users, each with a token, made straight in the directory."""

    app: FastAPI
    members: dict[str, Member] = field(default_factory=dict)
    orgs: dict[str, str] = field(default_factory=dict)

    def org(self, name: str) -> str:
        if name not in self.orgs:
            self.orgs[name] = state_of(self.app).tenancy.create_org(f"org-{name}").org_id
        return self.orgs[name]

    def member(self, name: str, org: str, role: str = "member") -> Member:
        tenancy = state_of(self.app).tenancy
        email = f"{name}-{next(_emails)}@example.com"
        user = tenancy.create_user(email=email, org_id=self.org(org), role=role)  # type: ignore[arg-type]
        _, secret = tenancy.create_token(user.user_id, name="test")
        found = Member(name, user.user_id, user.org_id, email, secret)
        self.members[name] = found
        return found

    def client(self, who: str | None = None, token: str | None = None) -> httpx.AsyncClient:
        """An HTTP client into the app as ``who`` (None: anonymous) or with ``token``."""
        headers = {}
        if who is not None:
            token = self.members[who].token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://satchel.test",
            headers=headers,
            timeout=60,
        )


@pytest.fixture
def world(app: FastAPI) -> World:
    return World(app)


@pytest.fixture
async def owner_client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    world.member("owner", "a")
    async with world.client("owner") as client:
        yield client


def file_entry(path: str, data: bytes, *, inline: bool = False, **extra: Any) -> dict[str, Any]:
    """One ``files`` entry of a create request."""
    entry: dict[str, Any] = {
        "path": path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        **extra,
    }
    if inline:
        entry["content"] = base64.b64encode(data).decode("ascii")
    return entry


async def create(
    client: httpx.AsyncClient, files: dict[str, bytes], *, inline: bool = True, **meta: Any
) -> dict[str, Any]:
    """Create an artifact (file contents inline unless told) and return its JSON."""
    body = {"files": [file_entry(p, d, inline=inline) for p, d in files.items()], **meta}
    response = await client.post("/api/v1/artifacts", json=body)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def upload(
    client: httpx.AsyncClient, artifact_id: str, path: str, data: bytes, *, chunk: int = 1 << 20
) -> dict[str, Any]:
    """Send a pending file's bytes in chunks; returns the last upload state."""
    state: dict[str, Any] = {}
    for offset in range(0, max(len(data), 1), chunk):
        response = await client.put(
            f"/api/v1/artifacts/{artifact_id}/uploads/{path}",
            params={"offset": offset},
            content=data[offset : offset + chunk],
        )
        assert response.status_code == 200, response.text
        state = dict(response.json())
    return state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app on a real uvicorn in a thread of this process; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


def route_table() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, from its own OpenAPI document."""
    home = tempfile.mkdtemp(prefix="satchel-routes-")
    store = Settings.load(
        environ={}, home=home, store="memory://routes", index=f"sqlite:///{home}/index.db"
    )
    app = create_app(ServerSettings.load(environ={}, store=store, secret=SECRET))
    try:
        paths = app.openapi()["paths"]
        return {(method.upper(), path) for path, item in paths.items() for method in item}
    finally:
        state_of(app).close()
        shutil.rmtree(home, ignore_errors=True)
