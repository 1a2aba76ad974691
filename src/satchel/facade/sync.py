"""``SyncArtifactFacade``: the blocking twin of ``ArtifactFacade``, same names, same params."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

from satchel.facade._paging import SearchPage
from satchel.facade._scope import ScopeLevel
from satchel.facade.base import FacadeBackend
from satchel.facade.writer import SyncArtifactWriter
from satchel.models import Artifact, Occurrence

__all__ = ["SyncArtifactFacade"]

PathLike = str | os.PathLike[str]


class SyncArtifactFacade:
    """Save, find and load artifacts in one context, blocking. See ``ArtifactFacade``."""

    def __init__(self, core: FacadeBackend) -> None:
        self._core = core

    # Save API
    def save_file(
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
        """Save a copy of a file; the caller's file is kept unless ``cleanup=True``."""
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
        return self._core.save_file(path, spec, cleanup=cleanup)

    def save_text(
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
        """Save text (UTF-8) as an artifact."""
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
        return self._core.save_bytes(data, spec, fallback_key=key)

    def save_json(
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
        """Save a JSON-serialisable payload as an artifact."""
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
        return self._core.save_bytes(data, spec, fallback_key=key)

    @contextmanager
    def writer(
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
    ) -> Iterator[SyncArtifactWriter]:
        """Stream bytes into a new artifact; it is indexed when the block exits cleanly."""
        w = SyncArtifactWriter(
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
            w._abort()
            raise
        w._finish()

    # Stage/ingest API
    def stage_path(self, ext: str = "") -> str:
        """A fresh path in the staging area (not created) for a file to ingest."""
        return self._core.stage_path(ext)

    def stage_dir(self, suffix: str = "") -> str:
        """A fresh, empty directory in the staging area."""
        return self._core.stage_dir(suffix)

    def ingest_file(
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
        """Save a staged file; files in the staging area are removed once saved."""
        return self.save_file(
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

    def ingest_dir(
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
        """Save a directory, every file kept; staged directories are removed once saved."""
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
        return self._core.ingest_dir(
            staged_dir,
            spec,
            include=include,
            exclude=exclude,
            archive=archive,
            cleanup=self._core.is_staged(staged_dir),
        )

    # Search API
    def get_by_id(self, artifact_id: str) -> Artifact | None:
        """The artifact, or None."""
        return self._core.get_by_id(artifact_id)

    def list(
        self,
        *,
        level: ScopeLevel | None = "run",
        include_node: bool = True,
        tags: Iterable[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Artifact]:
        """Artifacts of a scope level, newest first, filtered by tags and typed labels."""
        return self._core.list(
            level=level, include_node=include_node, tags=tags, filters=filters, limit=limit
        )

    def search(
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
        page = self._core.search_page(
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

    def search_page(
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
        return self._core.search_page(
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

    def best(
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
        found = self.search(
            kind=kind,
            metric=metric,
            metric_mode=metric_mode,
            level=level,
            tags=tags,
            labels=filters,
            limit=1,
        )
        return found[0] if found else None

    def pin(self, artifact_id: str, pinned: bool = True) -> None:
        """Pin (or unpin) an artifact for retention."""
        self._core.pin(artifact_id, pinned)

    def lineage(self, artifact_id: str) -> builtins.list[Occurrence]:
        """Which runs produced and used an artifact, oldest first."""
        return self._core.lineage(artifact_id)

    # Load API
    def load_bytes_by_id(self, artifact_id: str) -> bytes:
        """The verified bytes of a file artifact."""
        return self._core.load_bytes_by_id(artifact_id)

    def load_text_by_id(
        self, artifact_id: str, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> str:
        """The text of a file artifact."""
        return self._core.decode_text(self._core.load_bytes_by_id(artifact_id), encoding, errors)

    def load_json_by_id(
        self, artifact_id: str, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> Any:
        """The parsed JSON of a file artifact."""
        return self._core.decode_json(
            self._core.load_bytes_by_id(artifact_id),
            encoding,
            errors,
            what=f"artifact {artifact_id}",
        )

    def load_bytes(self, uri: PathLike) -> bytes:
        """Bytes by URI: ``satchel://<id>[/<path>]``, this store's URIs, or a local path."""
        return self._core.load_bytes(uri)

    def load_text(self, uri: PathLike, *, encoding: str = "utf-8", errors: str = "strict") -> str:
        """Text by URI."""
        return self._core.decode_text(self._core.load_bytes(uri), encoding, errors)

    def load_json(self, uri: PathLike, *, encoding: str = "utf-8", errors: str = "strict") -> Any:
        """Parsed JSON by URI."""
        return self._core.decode_json(self._core.load_bytes(uri), encoding, errors, what=str(uri))

    # Helpers
    def as_local_file(
        self, artifact_or_uri: Artifact | PathLike, *, must_exist: bool = True
    ) -> str:
        """A verified local copy of a file artifact (or the local path given)."""
        return self._core.as_local_file(artifact_or_uri, must_exist=must_exist)

    def as_local_dir(self, artifact_or_uri: Artifact | PathLike, *, must_exist: bool = True) -> str:
        """A verified local copy of a directory artifact, byte-identical at the same paths."""
        return self._core.as_local_dir(artifact_or_uri, must_exist=must_exist)
