"""The remote backends of the facade tests: the SDK against a real server over HTTP.

A pytest plugin of the root ``conftest.py``. One uvicorn serves the whole session on a free
port; each test gets a server of its own mounted under a path prefix ``/t<N>``, the way a
reverse proxy mounts a service, so tests never see each other's runs, orgs or search
statistics and no test pays for a server start. The server runs on either of the server's
backend pairs (``conftest.REMOTE_BACKENDS``, parametrised like ``serverkit.SERVER_BACKENDS``):

* ``remote`` (fixture ``remote``): a fresh home, local store and SQLite index, like an
  embedded test's own store. A fresh store is a copy of one migrated once per session
  (running the migrations is most of what opening a new store costs).
* ``remote-s3pg`` (fixture ``remote_s3pg``): blobs in the session's SeaweedFS under a fresh
  key prefix (``unique_prefix``), the index in a PostgreSQL schema of its own, as the
  conformance and ``s3+postgres`` facade tests have it: a schema migrated once and emptied
  after each test (``pgserver.index_url`` / ``release``), so a test pays for no DDL: its
  setup and teardown take about 0.08 s (opening the S3 store and the PostgreSQL engine,
  emptying the schema). Measured on 2 cores shared with other work, the 276 tests on
  ``remote-s3pg`` (the facade modules and ``tests/client``) took 85 s of test time (setup,
  call and teardown summed; ``--durations=0``), those on ``remote`` 65 s; the whole
  ``bash .ci/run`` took 11.3 min with them.
  Nothing is restricted: every facade test that runs on ``remote`` runs on ``remote-s3pg``
  too, and so does every ``tests/client`` test that takes a server (``on_both_pairs``).
  The facade tests that run on neither remote backend are, as before, those that drive an
  embedded store's own objects (``context.store.index.reindex()``, the vector store through
  ``settings``): a remote context has no store of its own.

Users and orgs are real: the facade tests' context fields ``org_id``/``user_id`` ("o1",
"u2"...) name orgs and users that ``RemoteWorld`` creates on first use, each with its own
API token; the context then carries their real ids, as the token says. Tests that reach
into the server's storage do it through ``store_of(ctx)`` (the server's ``ArtifactStore``),
never through paths, so they hold on both pairs.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

import pgserver
import satchel
from _seaweed import Seaweed
from conftest import REMOTE_BACKENDS, make_settings
from satchel.config import Settings
from satchel.server import ServerSettings, create_app
from satchel.server.state import ServerState
from satchel.store import ArtifactStore
from serverkit import SECRET, serving, state_of

_emails = itertools.count()
#: The server store behind each remote context of a test (what ``store_of`` answers).
_STORES: weakref.WeakKeyDictionary[satchel.Context, ArtifactStore] = weakref.WeakKeyDictionary()


class Mounts:
    """An ASGI app that routes ``/t<N>/...`` to the app mounted there."""

    def __init__(self) -> None:
        self._apps: dict[str, ASGIApp] = {}
        self._numbers = itertools.count()
        self.url = ""

    def mount(self, app: ASGIApp) -> str:
        prefix = f"/t{next(self._numbers)}"
        self._apps[prefix] = app
        return prefix

    def unmount(self, prefix: str) -> None:
        del self._apps[prefix]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        prefix = "/" + scope["path"].split("/", 2)[1]
        app = self._apps.get(prefix)
        if app is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"no such test server"})
            return
        await app({**scope, "root_path": scope.get("root_path", "") + prefix}, receive, send)


@dataclass
class Member:
    user_id: str
    org_id: str
    email: str
    token: str


@dataclass
class RemoteWorld:
    """One test's server: its URL, its orgs and users, and contexts onto it."""

    app: FastAPI
    url: str
    client_home: Path
    orgs: dict[str, str] = field(default_factory=dict)
    members: dict[tuple[str, str], Member] = field(default_factory=dict)
    #: Real ids back to the names they stand for (tests copy a context's fields around).
    names: dict[str, str] = field(default_factory=dict)
    #: Every context opened here, closed with the test's server (closing twice is fine).
    opened: list[satchel.Context] = field(default_factory=list)

    @property
    def store(self) -> ArtifactStore:
        return state_of(self.app).store

    def member(self, org: str = "o1", user: str = "u1", role: str = "member") -> Member:
        """The real user that the test's names ``org``/``user`` stand for."""
        tenancy = state_of(self.app).tenancy
        org, user = self.names.get(org, org), self.names.get(user, user)
        if org not in self.orgs:
            self.orgs[org] = tenancy.create_org(f"org-{org}").org_id
            self.names[self.orgs[org]] = org
        if (org, user) not in self.members:
            email = f"{user}-{next(_emails)}@example.com"
            made = tenancy.create_user(email=email, org_id=self.orgs[org], role=role)  # type: ignore[arg-type]
            _, token = tenancy.create_token(made.user_id, name="test")
            self.members[(org, user)] = Member(made.user_id, made.org_id, email, token)
            self.names[made.user_id] = user
        return self.members[(org, user)]

    def settings(self, *, url: str | None = None, **overrides: Any) -> Settings:
        """Client settings for this server (``url``: the same server through a proxy)."""
        store = url or self.url
        return Settings.load(environ={}, home=str(self.client_home), store=store, **overrides)

    def context(
        self, *, url: str | None = None, upload_chunk: int | None = None, **fields: Any
    ) -> satchel.Context:
        """``satchel.Context`` on this server, ``org_id``/``user_id`` mapped to real ones."""
        member = self.member(
            fields.pop("org_id", None) or "o1", fields.pop("user_id", None) or "u1"
        )
        ctx = satchel.Context(
            settings=self.settings(url=url, upload_chunk=upload_chunk),
            token=member.token,
            user_id=member.user_id,
            org_id=member.org_id,
            **fields,
        )
        _STORES[ctx] = self.store
        self.opened.append(ctx)
        return ctx


def remote_store_of(ctx: satchel.Context) -> ArtifactStore:
    """The store of the server a remote context talks to (for inspecting it)."""
    return _STORES[ctx]


@pytest.fixture(scope="session")
def remote_mounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mounts, Path]]:
    """The session's uvicorn (its URL in ``mounts.url``) and a migrated empty store."""
    template = tmp_path_factory.mktemp("remote-template")
    store = make_settings("local", template)
    ServerState.open(
        ServerSettings.load(environ={}, store=store, secret=SECRET, upload_dir=str(template))
    ).close()
    mounts = Mounts()
    with serving(mounts) as url:  # type: ignore[arg-type]
        mounts.url = url
        yield mounts, template / "store"


@contextlib.contextmanager
def remote_world(
    mounts: Mounts,
    template: Path,
    root: Path,
    *,
    seaweed: Seaweed | None = None,
    **server_settings: Any,
) -> Iterator[RemoteWorld]:
    """A fresh server in ``root`` mounted on the session's uvicorn (``server_settings``:
    ``ServerSettings`` overrides, such as ``body_max``).

    Without ``seaweed``: a copy of the migrated local store. With it: the scale pair, blobs
    under a fresh prefix of the SeaweedFS bucket and the index in a migrated PostgreSQL
    schema of its own (``pgserver.index_url``), emptied for the next test afterwards.
    """
    server_dir = root / "server"
    if seaweed is None:
        shutil.copytree(template, server_dir / "store")
        store = make_settings("local", server_dir)
    else:
        store = make_settings("s3+postgres", server_dir, seaweed)
    try:
        settings = ServerSettings.load(
            environ={},
            store=store,
            secret=SECRET,
            upload_dir=str(server_dir / "uploads"),
            **server_settings,
        )
        app = create_app(settings)
        prefix = mounts.mount(app)
        world = RemoteWorld(app, mounts.url + prefix, root / "client-home")
        try:
            yield world
        finally:
            try:
                for ctx in world.opened:
                    ctx.close()
            finally:
                mounts.unmount(prefix)
                state_of(app).close()
    finally:
        if seaweed is not None:
            pgserver.release()


#: Runs a test that takes ``remote`` on a server on each backend pair (``remote``: local +
#: SQLite, ``remote-s3pg``: SeaweedFS S3 + PostgreSQL), as ``serverkit.SERVER_BACKENDS``.
on_both_pairs = pytest.mark.parametrize("remote", list(REMOTE_BACKENDS), indirect=True)


@pytest.fixture
def remote(
    remote_mounts: tuple[Mounts, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[RemoteWorld]:
    """A fresh server for this test, on the session's uvicorn: a local store and SQLite
    index, or SeaweedFS S3 and PostgreSQL when parametrised ``remote-s3pg``
    (``on_both_pairs``)."""
    kind = getattr(request, "param", "remote")
    seaweed = request.getfixturevalue("seaweed") if kind == "remote-s3pg" else None
    with remote_world(*remote_mounts, tmp_path, seaweed=seaweed) as world:
        yield world


@pytest.fixture
def remote_s3pg(
    remote_mounts: tuple[Mounts, Path], seaweed: Seaweed, tmp_path: Path
) -> Iterator[RemoteWorld]:
    """A fresh server for this test on SeaweedFS S3 + PostgreSQL, on the session's uvicorn."""
    with remote_world(*remote_mounts, tmp_path, seaweed=seaweed) as world:
        yield world
