"""The seam under both facades: what ``ArtifactFacade`` and ``SyncArtifactFacade`` call.

``FacadeCore`` implements it over an embedded store; the remote core of ``satchel.client``
over a satchel server's HTTP API. The facades hold no logic of their own beyond running
these calls (blocking, or on ``executor`` under async), so both cores answer the same
facade test suite.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from typing import Any, Literal, Protocol, runtime_checkable

from satchel.facade._paging import SearchPage
from satchel.facade._scope import ContextInfo
from satchel.facade._shared import SaveSpec
from satchel.models import Artifact, ArtifactFile, Occurrence

__all__ = ["ByteSink", "FacadeBackend", "FinalStatus"]

FinalStatus = Literal["done", "crashed", "failed"]
PathLike = str | os.PathLike[str]


@runtime_checkable
class ByteSink(Protocol):
    """The bytes of one ``writer()`` on their way into an artifact."""

    @property
    def size(self) -> int:
        """Bytes written so far."""

    @property
    def memory_max(self) -> int:
        """Bytes the sink holds in memory before any blocking I/O."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes."""

    def commit(self, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        """Save what was written as one file artifact; durable when this returns."""

    def abort(self) -> None:
        """Discard what was written; nothing is saved."""


@runtime_checkable
class FacadeBackend(Protocol):
    """Every facade operation, blocking, within one context (see ``ArtifactFacade``)."""

    @property
    def context(self) -> ContextInfo:
        """The fields stamped on every artifact saved here."""

    @property
    def executor(self) -> Executor:
        """Where the async facade runs these blocking calls."""

    # validation and naming (no I/O)
    def spec(
        self,
        *,
        kind: str | None,
        name: str | None = None,
        labels: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        pin: bool = False,
        mime: str | None = None,
        suggested_uri: str | None = None,
        default_name: str | None = None,
        model_id: str | None = None,
        model_version: str | None = None,
    ) -> SaveSpec: ...

    def text_save(
        self, payload: str, *, mime: str | None, **meta: Any
    ) -> tuple[bytes, SaveSpec, str]: ...

    def json_save(
        self, payload: Any, *, mime: str | None, **meta: Any
    ) -> tuple[bytes, SaveSpec, str]: ...

    def file_spec(self, path: PathLike, **meta: Any) -> SaveSpec: ...

    def dir_spec(self, staged_dir: PathLike, **meta: Any) -> SaveSpec: ...

    def decode_text(self, data: bytes, encoding: str, errors: str) -> str: ...

    def decode_json(self, data: bytes, encoding: str, errors: str, *, what: str) -> Any: ...

    # saves
    def save_bytes(self, data: bytes, spec: SaveSpec, *, fallback_key: str) -> Artifact: ...

    async def save_bytes_async(
        self, data: bytes, spec: SaveSpec, *, fallback_key: str
    ) -> Artifact: ...

    def save_file(self, path: PathLike, spec: SaveSpec, *, cleanup: bool) -> Artifact: ...

    def ingest_dir(
        self,
        staged_dir: PathLike,
        spec: SaveSpec,
        *,
        include: Iterable[str] | str | None,
        exclude: Iterable[str] | str | None,
        archive: bool,
        cleanup: bool,
    ) -> Artifact: ...

    def open_sink(self) -> ByteSink: ...

    # staging
    def stage_path(self, ext: str = "") -> str: ...

    def stage_dir(self, suffix: str = "") -> str: ...

    def is_staged(self, path: PathLike) -> bool: ...

    # reads
    def get_by_id(self, artifact_id: str) -> Artifact | None: ...

    def list(
        self,
        *,
        level: str | None,
        include_node: bool,
        tags: Iterable[str] | None,
        filters: Mapping[str, Any] | None,
        limit: int | None,
    ) -> builtins.list[Artifact]: ...

    def search_page(
        self,
        *,
        query: str | None,
        mode: str | None,
        cursor: str | None,
        limit: int | None,
        time_window: str | None,
        paged: bool,
        **filters: Any,
    ) -> SearchPage: ...

    def pin(self, artifact_id: str, pinned: bool) -> None: ...

    def lineage(self, artifact_id: str) -> builtins.list[Occurrence]: ...

    def single_file(self, artifact: Artifact, path: str | None = None) -> ArtifactFile: ...

    def load_bytes_by_id(self, artifact_id: str) -> bytes: ...

    def load_bytes(self, uri: PathLike) -> bytes: ...

    def as_local_file(self, artifact_or_uri: Artifact | PathLike, *, must_exist: bool) -> str: ...

    def as_local_dir(self, artifact_or_uri: Artifact | PathLike, *, must_exist: bool) -> str: ...

    # runs and lifetime
    def run_recorded(self) -> bool:
        """Whether the context's run exists (anything was saved in it)."""

    def finish_run(self, status: FinalStatus) -> None: ...

    def close(self) -> None:
        """Release the store or connection (and the executor)."""
