"""``Context``: one store (embedded, or a satchel server), one execution context, and the
facades over them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any, Literal

from satchel.config import Settings
from satchel.connect import open_core
from satchel.facade import ArtifactFacade, ContextInfo, SyncArtifactFacade
from satchel.models import new_id
from satchel.search.embed import Embedder
from satchel.store import ArtifactStore
from satchel.validation import validate_labels, validate_token

__all__ = ["Context"]


class Context:
    """An open store plus the context stamped on every artifact saved through it.

    Example::

        ctx = satchel.Context(store="~/.satchel", run_id="r1", user_id="u1")
        arts = ctx.artifacts()            # async ArtifactFacade
        sync_arts = ctx.sync_artifacts()  # the blocking twin

        remote = satchel.Context(store="http://127.0.0.1:8765", token="sat_...", run_id="r1")

    Args:
        store: a directory, ``file://`` URL or ``memory://NAME`` (default ``SATCHEL_STORE``,
            else ``SATCHEL_HOME``, else ``~/.satchel``), or the ``http(s)://`` URL of a
            satchel server (docs/client.md).
        index: an index URL (default: SQLite ``index.db`` inside a local store).
        token: the API token of a satchel server (default ``SATCHEL_TOKEN``). The server
            says whose it is: ``user_id`` and ``org_id`` come from it (giving others is a
            ``ValidationError``); a job token's run is the default ``run_id``.
        run_id: the run artifacts belong to; a fresh one when omitted. A fresh run is
            marked ``done`` when the context closes (``failed`` if its ``with`` block
            raised); a given run is left as it is unless ``finish_run`` is called.
        scope: scope labels (e.g. ``{"project": "p1"}``) added to every saved artifact and
            used by ``level="scope"``.
        settings: explicit settings (otherwise read from the environment).
        embedder: the model for ``mode="semantic"``/``"hybrid"`` searches of an embedded
            store (default: all-MiniLM-L6-v2 from the ``semantic`` extra, loaded on first
            use); a server searches with its own.
        graph_id, node_id, tool_name, tool_version, org_id, user_id, client_id, app_id,
        session_id: context fields of the Artifact schema.
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | None = None,
        *,
        index: str | None = None,
        token: str | None = None,
        run_id: str | None = None,
        graph_id: str | None = None,
        node_id: str | None = None,
        tool_name: str | None = None,
        tool_version: str | None = None,
        org_id: str | None = None,
        user_id: str | None = None,
        client_id: str | None = None,
        app_id: str | None = None,
        session_id: str | None = None,
        scope: Mapping[str, Any] | None = None,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        fields = {
            "run_id": run_id,
            "graph_id": graph_id,
            "node_id": node_id,
            "tool_name": tool_name,
            "tool_version": tool_version,
            "org_id": org_id,
            "user_id": user_id,
            "client_id": client_id,
            "app_id": app_id,
            "session_id": session_id,
        }
        if run_id is None:
            # Inside `satchel run`, a context joins the captured run (docs/cli.md).
            run_id = os.environ.get("SATCHEL_RUN_ID") or None
            fields["run_id"] = run_id
        for name, value in fields.items():
            if value is not None:
                validate_token(value, what=name)
        if settings is None:
            settings = Settings.load(
                store=os.fspath(store) if store is not None else None, index=index, token=token
            )
        elif token is not None:
            settings = replace(settings, token=token)
        self.settings = settings
        info = ContextInfo(
            run_id=run_id or new_id(),
            graph_id=graph_id,
            node_id=node_id,
            tool_name=tool_name,
            tool_version=tool_version,
            org_id=org_id,
            user_id=user_id,
            client_id=client_id,
            app_id=app_id,
            session_id=session_id,
            scope=validate_labels(scope),
        )
        core, opened = open_core(settings, info, run_given=run_id is not None, embedder=embedder)
        #: The embedded store (None for a satchel server: its store is the server's).
        self.store: ArtifactStore | None = opened
        self._core = core
        self._owns_run = run_id is None and core.context.run_id == info.run_id
        self._closed = False

    @property
    def run_id(self) -> str:
        """The run every artifact saved here belongs to."""
        return self._core.context.run_id

    @property
    def info(self) -> ContextInfo:
        """The context fields stamped on saved artifacts."""
        return self._core.context

    def artifacts(self) -> ArtifactFacade:
        """The async ArtifactFacade for this context."""
        return ArtifactFacade(self._core)

    def sync_artifacts(self) -> SyncArtifactFacade:
        """The blocking twin, with the same method names and parameters."""
        return SyncArtifactFacade(self._core)

    def finish_run(self, status: Literal["done", "crashed", "failed"] = "done") -> None:
        """Record the run's final status."""
        self._core.finish_run(status)

    def close(self, *, status: Literal["done", "crashed", "failed"] | None = None) -> None:
        """Finish pending saves, record the run's status, release the store.

        ``status`` records that status for the run whatever it is. Without it, a fresh run
        (no ``run_id`` given) that saved anything is marked ``done``.
        """
        self._close(status=status, fresh_status="done")

    def _close(
        self,
        *,
        status: Literal["done", "crashed", "failed"] | None,
        fresh_status: Literal["done", "crashed", "failed"],
    ) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if status is not None:
                self._core.finish_run(status)
            elif self._owns_run and self._core.run_recorded():
                self._core.finish_run(fresh_status)
        finally:
            self._core.close()

    async def aclose(self, *, status: Literal["done", "crashed", "failed"] | None = None) -> None:
        """``close`` without blocking the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, lambda: self.close(status=status))

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(status=None, fresh_status="failed" if exc_type is not None else "done")

    async def __aenter__(self) -> Context:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fresh: Literal["done", "crashed", "failed"] = "failed" if exc_type else "done"
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._close(status=None, fresh_status=fresh)
        )
