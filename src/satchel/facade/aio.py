"""``ArtifactFacade``: the async ArtifactFacade API of AetherGraph, embedded or remote.

Blocking work (file copies, fsync, index reads, HTTP requests) runs on the core's I/O
threads; embedded, small saves are built on the event loop and only wait for the group
commit, so thousands of concurrent ``save_text`` calls share a few durable transactions.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from satchel.facade._paging import SearchPage
from satchel.facade._scope import ScopeLevel
from satchel.facade._shared import SaveSpec
from satchel.facade.base import FacadeBackend
from satchel.facade.sync import PathLike
from satchel.facade.writer import ArtifactWriter
from satchel.models import Artifact, Occurrence

__all__ = ["ArtifactFacade"]

T = TypeVar("T")


class ArtifactFacade:
    """Save, find and load artifacts within one context (``Context.artifacts()``).

    Every artifact saved here is stamped with the context's run, session, user, org, graph,
    node and tool, and with the context's scope labels.
    """

    def __init__(self, core: FacadeBackend) -> None:
        self._core = core

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._core.executor, functools.partial(fn, *args, **kwargs)
        )

    async def _save_bytes(self, data: bytes, spec: SaveSpec, fallback_key: str) -> Artifact:
        return await self._core.save_bytes_async(data, spec, fallback_key=fallback_key)

    # 1. Save API
    async def save_file(
        self,
        path: PathLike,
        *,
        kind: str,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        suggested_uri: str | None = None,
        name: str | None = None,
        pin: bool = False,
        cleanup: bool = False,
        tags: Iterable[str] | None = None,
        mime: str | None = None,
        model_id: str | None = None,
        model_version: str | None = None,
    ) -> Artifact:
        """Save a copy of an existing file and index it.

        Unlike AetherGraph, the caller's file is kept unless ``cleanup=True``: satchel does
        not destroy user data by default. ``name`` (else the last segment of
        ``suggested_uri``, else the file's name) names the artifact and its file.

        Args:
            path: the local file to save (a regular file; FIFOs and devices are refused).
            kind: the artifact type, e.g. ``"checkpoint"``, ``"dataset"``.
            labels: typed metadata (strings, finite numbers, booleans).
            metrics: finite numbers, e.g. ``{"accuracy": 0.98}``.
            suggested_uri: a logical URI, kept as the ``suggested_uri`` label.
            name: the artifact's name.
            pin: pin for retention.
            cleanup: delete the local file once the save is durable.
            tags: a set of strings.
            mime: the MIME type (inferred from the name when omitted).
            model_id: the model this artifact belongs to.
            model_version: the model's version.

        Returns:
            The saved artifact, durable when this returns.
        """
        spec = self._core.file_spec(
            path,
            kind=kind,
            name=name,
            labels=labels,
            metrics=metrics,
            tags=tags,
            pin=pin,
            mime=mime,
            suggested_uri=suggested_uri,
            model_id=model_id,
            model_version=model_version,
        )
        return await self._run(self._core.save_file, path, spec, cleanup=cleanup)

    async def save_text(
        self,
        payload: str,
        *,
        suggested_uri: str | None = None,
        name: str | None = None,
        kind: str = "text",
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        pin: bool = False,
        tags: Iterable[str] | None = None,
        mime: str | None = None,
    ) -> Artifact:
        """Save text (encoded as UTF-8) as an artifact of kind ``"text"``."""
        data, spec, key = self._core.text_save(
            payload,
            kind=kind,
            name=name,
            labels=labels,
            metrics=metrics,
            tags=tags,
            pin=pin,
            mime=mime,
            suggested_uri=suggested_uri,
        )
        return await self._save_bytes(data, spec, key)

    async def save_json(
        self,
        payload: Any,
        *,
        suggested_uri: str | None = None,
        name: str | None = None,
        kind: str = "json",
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        pin: bool = False,
        tags: Iterable[str] | None = None,
        mime: str | None = None,
    ) -> Artifact:
        """Save a JSON-serialisable payload (NaN and infinities are refused)."""
        data, spec, key = self._core.json_save(
            payload,
            kind=kind,
            name=name,
            labels=labels,
            metrics=metrics,
            tags=tags,
            pin=pin,
            mime=mime,
            suggested_uri=suggested_uri,
        )
        return await self._save_bytes(data, spec, key)

    @asynccontextmanager
    async def writer(
        self,
        *,
        kind: str,
        planned_ext: str | None = None,
        pin: bool = False,
        name: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        mime: str | None = None,
    ) -> AsyncIterator[ArtifactWriter]:
        """Stream bytes into a new artifact: ``async with arts.writer(kind=...) as w``.

        ``await w.write(data)``, ``w.add_labels({...})``, ``w.add_metrics({...})``; the
        artifact is indexed when the block exits cleanly and is then ``w.artifact``. An
        exception inside the block discards the bytes and indexes nothing.
        """
        w = ArtifactWriter(
            self._core,
            kind=kind,
            planned_ext=planned_ext,
            pin=pin,
            name=name,
            labels=labels,
            metrics=metrics,
            tags=tags,
            mime=mime,
        )
        try:
            yield w
        except BaseException:
            await self._run(w._abort)
            raise
        await self._run(w._finish)

    # 3. Stage/ingest API
    async def stage_path(self, ext: str = "") -> str:
        """A fresh path in the staging area (not created yet) for a file to ingest."""
        return self._core.stage_path(ext)

    async def stage_dir(self, suffix: str = "") -> str:
        """A fresh, empty directory in the staging area."""
        return await self._run(self._core.stage_dir, suffix)

    async def ingest_file(
        self,
        staged_path: PathLike,
        *,
        kind: str,
        tags: Iterable[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        suggested_uri: str | None = None,
        pin: bool = False,
        name: str | None = None,
        mime: str | None = None,
    ) -> Artifact:
        """Save a staged file; a file inside the staging area is removed once saved."""
        return await self.save_file(
            staged_path,
            kind=kind,
            tags=tags,
            labels=labels,
            metrics=metrics,
            suggested_uri=suggested_uri,
            pin=pin,
            name=name,
            mime=mime,
            cleanup=self._core.is_staged(staged_path),
        )

    async def ingest_dir(
        self,
        staged_dir: PathLike,
        *,
        kind: str = "directory",
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        archive: bool = False,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        pin: bool = False,
        name: str | None = None,
        suggested_uri: str | None = None,
    ) -> Artifact:
        """Save a directory as one artifact with every file kept as its own blob.

        ``include``/``exclude`` are glob patterns over the files' relative paths.
        ``archive=True`` stores the tree as one deterministic tar file instead (fewer
        blobs for trees of many small files); ``as_local_dir`` unpacks it. A directory in
        the staging area is removed once saved.
        """
        spec = self._core.dir_spec(
            staged_dir,
            kind=kind,
            name=name,
            labels=labels,
            metrics=metrics,
            tags=tags,
            pin=pin,
            suggested_uri=suggested_uri,
        )
        return await self._run(
            self._core.ingest_dir,
            staged_dir,
            spec,
            include=include,
            exclude=exclude,
            archive=archive,
            cleanup=self._core.is_staged(staged_dir),
        )

    # 2. Search API
    async def get_by_id(self, artifact_id: str) -> Artifact | None:
        """The artifact with this id, or None."""
        return await self._run(self._core.get_by_id, artifact_id)

    async def list(
        self,
        *,
        level: ScopeLevel | None = "run",
        include_node: bool = True,
        tags: Iterable[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Artifact]:
        """Artifacts of a scope level (run ⊂ session ⊂ user ⊂ org, or scope), newest first.

        ``include_node`` narrows to the context's graph and node; ``tags`` keeps artifacts
        having all of them; ``filters`` compares labels with their types (3 matches the
        number 3, never the string "3"; ``%`` is an ordinary character).
        """
        return await self._run(
            self._core.list,
            level=level,
            include_node=include_node,
            tags=tags,
            filters=filters,
            limit=limit,
        )

    async def search(
        self,
        *,
        query: str | None = None,
        kind: str | None = None,
        tags: Iterable[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        metric: str | None = None,
        metric_mode: Literal["max", "min"] | None = None,
        level: ScopeLevel | None = "run",
        extra_scope_labels: Mapping[str, Any] | None = None,
        limit: int | None = None,
        include_graph: bool = False,
        include_node: bool = False,
        time_window: str | None = None,
        mode: str | None = None,
    ) -> builtins.list[Artifact]:
        """Search artifacts with structured filters, newest first or ranked by a metric.

        ``kind``, ``tags`` (all of them), ``labels`` (typed), ``level``,
        ``extra_scope_labels``, ``include_graph``/``include_node`` and ``time_window``
        (``30s``, ``15m``, ``2h``, ``7d``, ``4w``) all filter. ``metric`` ranks by that metric
        (``metric_mode`` "max", the default, or "min") and leaves out artifacts without it.
        With a ``query``, results are ranked by relevance instead (every filter still
        applies; ``metric`` then only requires the metric): ``mode`` "lexical" (the
        default: words, partial words, typos), "semantic" (meaning, needs the ``semantic``
        extra or the context's embedder) or "hybrid" (both, fused by reciprocal rank).
        """
        page = await self._run(
            self._core.search_page,
            cursor=None,
            paged=False,
            query=query,
            mode=mode,
            limit=limit,
            time_window=time_window,
            kind=kind,
            tags=tags,
            filters=labels,
            metric=metric,
            metric_mode=metric_mode,
            level=level,
            extra_scope_labels=extra_scope_labels,
            include_graph=include_graph,
            include_node=include_node,
        )
        return page.items

    async def search_page(
        self,
        *,
        query: str | None = None,
        kind: str | None = None,
        tags: Iterable[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        metric: str | None = None,
        metric_mode: Literal["max", "min"] | None = None,
        level: ScopeLevel | None = "run",
        extra_scope_labels: Mapping[str, Any] | None = None,
        limit: int = 50,
        include_graph: bool = False,
        include_node: bool = False,
        time_window: str | None = None,
        mode: str | None = None,
        cursor: str | None = None,
    ) -> SearchPage:
        """``search`` one page at a time: pass ``page.next_cursor`` back for the next page.

        Pages are full until the results run out and stay stable while artifacts are
        added (keyset paging); a cursor only works with the search that made it.
        """
        return await self._run(
            self._core.search_page,
            cursor=cursor,
            paged=True,
            query=query,
            mode=mode,
            limit=limit,
            time_window=time_window,
            kind=kind,
            tags=tags,
            filters=labels,
            metric=metric,
            metric_mode=metric_mode,
            level=level,
            extra_scope_labels=extra_scope_labels,
            include_graph=include_graph,
            include_node=include_node,
        )

    async def best(
        self,
        *,
        kind: str,
        metric: str,
        metric_mode: Literal["max", "min"],
        level: ScopeLevel | None = "run",
        tags: Iterable[str] | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> Artifact | None:
        """The artifact of ``kind`` with the highest (or lowest) ``metric``, or None."""
        found = await self.search(
            kind=kind,
            metric=metric,
            metric_mode=metric_mode,
            level=level,
            tags=tags,
            labels=filters,
            limit=1,
        )
        return found[0] if found else None

    async def pin(self, artifact_id: str, pinned: bool = True) -> None:
        """Pin (or unpin) an artifact for retention; unknown ids raise ``NotFoundError``."""
        await self._run(self._core.pin, artifact_id, pinned)

    async def lineage(self, artifact_id: str) -> builtins.list[Occurrence]:
        """Which runs (and nodes) produced and used an artifact, oldest first."""
        return await self._run(self._core.lineage, artifact_id)

    # 4. Load API
    async def load_bytes_by_id(self, artifact_id: str) -> bytes:
        """The verified bytes of a file artifact (``IsADirectoryError`` for a directory)."""
        return await self._run(self._core.load_bytes_by_id, artifact_id)

    async def load_text_by_id(
        self, artifact_id: str, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> str:
        """The text of a file artifact."""
        data = await self.load_bytes_by_id(artifact_id)
        return self._core.decode_text(data, encoding, errors)

    async def load_json_by_id(
        self, artifact_id: str, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> Any:
        """The parsed JSON of a file artifact (``json.JSONDecodeError`` when invalid)."""
        data = await self.load_bytes_by_id(artifact_id)
        return self._core.decode_json(data, encoding, errors, what=f"artifact {artifact_id}")

    async def load_bytes(self, uri: PathLike) -> bytes:
        """Bytes by URI: ``satchel://<id>[/<path>]``, this store's URIs, or a local path."""
        return await self._run(self._core.load_bytes, uri)

    async def load_text(
        self, uri: PathLike, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> str:
        """Text by URI."""
        return self._core.decode_text(await self.load_bytes(uri), encoding, errors)

    async def load_json(
        self, uri: PathLike, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> Any:
        """Parsed JSON by URI."""
        return self._core.decode_json(await self.load_bytes(uri), encoding, errors, what=str(uri))

    # 5. Helpers
    async def as_local_file(
        self, artifact_or_uri: Artifact | PathLike, *, must_exist: bool = True
    ) -> str:
        """A verified local copy of a file artifact, or the local path given."""
        return await self._run(self._core.as_local_file, artifact_or_uri, must_exist=must_exist)

    async def as_local_dir(
        self, artifact_or_uri: Artifact | PathLike, *, must_exist: bool = True
    ) -> str:
        """A verified local copy of a directory artifact, byte-identical at the same paths."""
        return await self._run(self._core.as_local_dir, artifact_or_uri, must_exist=must_exist)
