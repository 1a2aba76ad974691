"""Shared fixtures: every backend and both facade twins through one parametrised set.

* ``blob_store``: each BlobStore backend (memory, local, and S3 on a real SeaweedFS that the
  session starts on first use: ``_seaweed.py``).
* ``index``: each Index backend (SQLite, PostgreSQL in a fresh schema: ``pgserver``).
* ``context``: a ``satchel.Context`` over each store/index pair; modules (or tests) marked
  ``remote_too`` also get the remote backends: the SDK against a real satchel server over
  HTTP, ``remote`` on a local store + SQLite and ``remote-s3pg`` on SeaweedFS S3 +
  PostgreSQL (``remotekit.py``). ``store_of(ctx)`` is the store holding a context's
  artifacts (the server's, for a remote one), for the tests that inspect storage.
* ``st_embedder`` / ``numpy_embedder``: all-MiniLM-L6-v2 on each runtime, loaded once per
  session (importing PyTorch alone takes seconds).
* ``arts``: the facade under test, as an async API: the async ``ArtifactFacade`` itself, and
  the blocking ``SyncArtifactFacade`` driven through ``SyncAsAsync`` so that one test body
  covers both twins (and, later, the remote client).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import pgserver
import satchel
from _seaweed import Seaweed, running_seaweed, unique_prefix
from satchel.config import Settings
from satchel.index import Index, open_index
from satchel.search.embed import Embedder, default_embedder
from satchel.storage import BlobStore
from satchel.storage.local import LocalBlobStore
from satchel.storage.memory import MemoryBlobStore
from satchel.storage.s3 import S3BlobStore
from satchel.store import ArtifactStore

_names = itertools.count()

#: The server's fixtures (``server_kind``, ``app``, ``world``...) and the remote backend's.
pytest_plugins = ["serverkit", "remotekit"]

BLOB_BACKENDS = ["memory", "local", "s3"]
INDEX_BACKENDS = ["sqlite", "postgres"]
STORE_BACKENDS = ["local", "memory+sqlite", "memory+postgres", "s3+postgres"]
#: The remote backends: a satchel server on each backend pair, by the fixture that makes it
#: (``remotekit.py``).
REMOTE_BACKENDS = {"remote": "remote", "remote-s3pg": "remote_s3pg"}
#: Where a facade test's contexts live: every embedded pair, and a satchel server on each
#: of the server's pairs (local + SQLite, SeaweedFS S3 + PostgreSQL).
CONTEXT_BACKENDS = [*STORE_BACKENDS, *REMOTE_BACKENDS]
FACADES = ["async", "sync"]

#: Runs a facade test on every embedded store and remotely (module ``pytestmark`` or a
#: single test's decorator).
remote_too = pytest.mark.parametrize("store_kind", CONTEXT_BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def seaweed() -> Iterator[Seaweed]:
    """One SeaweedFS per session, started on first use; its keys are in the environment
    (``AWS_ACCESS_KEY_ID``...), as a user's would be, so child processes reach it too."""
    with running_seaweed() as server, pytest.MonkeyPatch.context() as patch:
        for name, value in server.env.items():
            patch.setenv(name, value)
        yield server


@pytest.fixture(params=BLOB_BACKENDS)
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    store: BlobStore
    if request.param == "memory":
        store = MemoryBlobStore()
    elif request.param == "s3":
        server: Seaweed = request.getfixturevalue("seaweed")
        store = S3BlobStore(server.url(unique_prefix()))
    else:
        store = LocalBlobStore(tmp_path / "blobs-root")
    yield store
    store.close()


@pytest.fixture(params=INDEX_BACKENDS)
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    if request.param == "postgres":
        idx = open_index(pgserver.index_url())
        yield idx
        idx.close()
        pgserver.release()
        return
    idx = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    yield idx
    idx.close()


@pytest.fixture(params=INDEX_BACKENDS)
def empty_index_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An unmigrated index's URL on each dialect: a new SQLite file, or an empty schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'index.db'}"
        return
    with pgserver.fresh_schema() as url:
        yield url


@pytest.fixture(autouse=True, scope="session")
def _postgres_schemas_dropped() -> Iterator[None]:
    """Every test schema of this process goes at the end of the session."""
    yield
    pgserver.drop_created()


def make_settings(kind: str, tmp_path: Path, seaweed: Seaweed | None = None) -> Settings:
    """Settings for one store/index pair, rooted in ``tmp_path``.

    ``s3+postgres`` is the scale pair: blobs in a SeaweedFS bucket (a prefix of their own),
    the index in a PostgreSQL schema of its own. ``s3+sqlite`` names no index: like a
    user's ``SATCHEL_STORE=s3://...`` alone, it gets the default ``sqlite:///<home>/index.db``.
    """
    if kind == "local":
        return Settings.load(environ={}, home=str(tmp_path / "home"), store=str(tmp_path / "store"))
    if kind in ("memory+sqlite", "memory+postgres"):
        # PostgreSQL: an empty schema, emptied again by the ``settings`` fixture.
        index = (
            pgserver.index_url()
            if kind == "memory+postgres"
            else f"sqlite:///{tmp_path / 'index.db'}"
        )
        return Settings.load(
            environ={},
            home=str(tmp_path / "home"),
            store=f"memory://test-{next(_names)}",
            index=index,
        )
    if kind in ("s3+sqlite", "s3+postgres"):
        assert seaweed is not None, "s3 stores need the seaweed fixture"
        return Settings.load(
            environ={},
            home=str(tmp_path / "home"),
            store=seaweed.url(unique_prefix()),
            index=pgserver.index_url() if kind == "s3+postgres" else None,
        )
    raise ValueError(kind)


@pytest.fixture(params=STORE_BACKENDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    if store_kind in REMOTE_BACKENDS:
        raise AssertionError("a remote context has no store settings: use store_of(context)")
    server = request.getfixturevalue("seaweed") if store_kind.startswith("s3") else None
    yield make_settings(store_kind, tmp_path, server)
    pgserver.release()


CONTEXT_FIELDS: dict[str, Any] = {
    "org_id": "o1",
    "user_id": "u1",
    "session_id": "s1",
    "run_id": "r1",
    "graph_id": "g1",
    "node_id": "n1",
    "tool_name": "train",
    "tool_version": "1.0",
}


@pytest.fixture
def open_context(
    store_kind: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., satchel.Context]]:
    """Open contexts on the test's store (other runs, users, orgs); closed at teardown.

    Remote: on the test's own server, ``org_id``/``user_id`` naming real orgs and users.
    """
    make: Callable[..., satchel.Context]
    if store_kind in REMOTE_BACKENDS:
        make = request.getfixturevalue(REMOTE_BACKENDS[store_kind]).context
    else:
        settings: Settings = request.getfixturevalue("settings")
        make = functools.partial(satchel.Context, settings=settings)
    opened: list[satchel.Context] = []

    def _open(**fields: Any) -> satchel.Context:
        ctx = make(**fields)
        opened.append(ctx)
        return ctx

    yield _open
    for ctx in opened:
        ctx.close()


@pytest.fixture
def context(open_context: Callable[..., satchel.Context]) -> satchel.Context:
    return open_context(**CONTEXT_FIELDS)


def store_of(ctx: satchel.Context) -> ArtifactStore:
    """The store that holds a context's artifacts: its own, or its server's."""
    if ctx.store is not None:
        return ctx.store
    from remotekit import remote_store_of  # noqa: PLC0415 - a plugin of this module

    return remote_store_of(ctx)


class SyncAsAsync:
    """Drive a ``SyncArtifactFacade`` through the async API, call for call, in a thread."""

    def __init__(self, facade: satchel.SyncArtifactFacade) -> None:
        self._facade = facade

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._facade, name)

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call

    @asynccontextmanager
    async def writer(self, **kwargs: Any) -> AsyncIterator[Any]:
        manager = self._facade.writer(**kwargs)
        w = await asyncio.to_thread(manager.__enter__)

        class _AsyncWrite:
            def __getattr__(self, name: str) -> Any:
                return getattr(w, name)

            async def write(self, data: bytes) -> None:
                await asyncio.to_thread(w.write, data)

        try:
            yield _AsyncWrite()
        except BaseException as exc:
            await asyncio.to_thread(manager.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await asyncio.to_thread(manager.__exit__, None, None, None)


@pytest.fixture(params=FACADES)
def facade_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def facade_of(ctx: satchel.Context, kind: str) -> Any:
    """The facade of a context as an async API, for either twin."""
    return ctx.artifacts() if kind == "async" else SyncAsAsync(ctx.sync_artifacts())


@pytest.fixture
def arts(context: satchel.Context, facade_kind: str) -> Any:
    return facade_of(context, facade_kind)


@pytest.fixture(scope="session")
def st_embedder() -> Embedder:
    """The default model on sentence-transformers (the dev install has it: never skipped)."""
    return default_embedder("sentence-transformers")


@pytest.fixture(scope="session")
def numpy_embedder() -> Embedder:
    """The default model on the NumPy runtime."""
    return default_embedder("numpy")
