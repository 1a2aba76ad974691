"""The embedded core: every facade operation, blocking, over one local store.

``SyncArtifactFacade`` calls these methods directly; ``ArtifactFacade`` runs them on the
store's I/O threads (and, through ``save_bytes_async``, builds small saves on the event
loop: they do no I/O before the group commit). Validation and naming live in
``CoreBase``, shared with the remote core.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import Any

from satchel.errors import BlobCollectedError, NotFoundError
from satchel.facade import _local
from satchel.facade._paging import SearchPage
from satchel.facade._scope import ContextInfo, ScopeLevel, scope_query
from satchel.facade._search import context_search, page_search
from satchel.facade._shared import (
    TAR_MIME,
    CoreBase,
    SaveSpec,
    UseLog,
    artifact_target,
    last_segment,
    local_dir,
    local_file,
    read_local,
)
from satchel.facade._text import TextSearcher
from satchel.facade.base import ByteSink, FinalStatus
from satchel.hashing import tree_digest
from satchel.index import ArtifactWrite
from satchel.ingest import walk_directory
from satchel.models import (
    DIRECTORY_MIME,
    Artifact,
    ArtifactFile,
    Occurrence,
    Run,
    format_time,
    new_id,
    utcnow,
)
from satchel.search.embed import Embedder
from satchel.store import ArtifactStore, BlobWriter, StoredBlob
from satchel.uris import parse_uri
from satchel.validation import guess_mime

__all__ = ["TAR_MIME", "ContextInfo", "FacadeCore", "SaveSpec", "ScopeLevel"]


class _StoreSink:
    """A ``writer()``'s bytes in a ``BlobWriter``: in memory up to ``inline_max``."""

    def __init__(self, core: FacadeCore) -> None:
        self._core = core
        self._blob: BlobWriter = core.store.blob_writer()

    @property
    def size(self) -> int:
        return self._blob.size

    @property
    def memory_max(self) -> int:
        return self._core.store.settings.inline_max

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._blob.write(data)

    def commit(self, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        blob = self._blob.finish()
        return self._core.commit(
            *self._core.build_file_write(spec, blob, fallback_key=fallback_key)
        )

    def abort(self) -> None:
        self._blob.abort()


class FacadeCore(CoreBase):
    """Every facade operation, blocking, over one store and one context."""

    def __init__(
        self, store: ArtifactStore, context: ContextInfo, *, embedder: Embedder | None = None
    ) -> None:
        self.store = store
        self.context = context
        self.staging_dir = store.staging_dir
        self.text = TextSearcher(store.index, embedder)
        self._run_recorded = False
        self._uses = UseLog()
        self._lock = threading.Lock()

    @property
    def executor(self) -> Executor:
        return self.store.executor

    # -- building saves -----------------------------------------------------------------

    def _run_for_write(self) -> Run | None:
        with self._lock:
            if self._run_recorded:
                return None
            self._run_recorded = True
        return self._new_run()

    def _new_run(self) -> Run:
        ctx = self.context
        return Run(
            run_id=ctx.run_id,
            org_id=ctx.org_id,
            user_id=ctx.user_id,
            session_id=ctx.session_id,
            status="running",
            started_at=utcnow(),
        )

    def build_file_write(
        self, spec: SaveSpec, blob: StoredBlob, *, fallback_key: str
    ) -> tuple[Artifact, ArtifactWrite]:
        """The artifact and index write for a single-file save."""
        key, mime = self.file_key(spec, fallback_key)
        uri_holder = None if blob.inline is not None else self.store.blobs.blob_uri(blob.digest)
        files = [ArtifactFile(path=key, sha256=blob.digest.hexdigest, bytes=blob.size, mime=mime)]
        inline = {blob.digest.hexdigest: blob.inline} if blob.inline is not None else {}
        return self._build(
            spec,
            files,
            sha256=blob.digest.hexdigest,
            size=blob.size,
            mime=mime,
            uri=uri_holder,
            inline=inline,
        )

    def _build(
        self,
        spec: SaveSpec,
        files: builtins.list[ArtifactFile],
        *,
        sha256: str,
        size: int,
        mime: str,
        uri: str | None,
        inline: dict[str, bytes],
    ) -> tuple[Artifact, ArtifactWrite]:
        ctx = self.context
        now = utcnow()
        artifact_id = new_id()
        artifact = Artifact(
            artifact_id=artifact_id,
            name=spec.name,
            kind=spec.kind,
            status="completed",
            run_id=ctx.run_id,
            graph_id=ctx.graph_id,
            node_id=ctx.node_id,
            tool_name=ctx.tool_name,
            tool_version=ctx.tool_version,
            model_id=spec.model_id,
            model_version=spec.model_version,
            sha256=sha256,
            bytes=size,
            mime=mime,
            created_at=now,
            updated_at=now,
            tags=spec.tags,
            labels=spec.labels,
            metrics=spec.metrics,
            pinned=spec.pinned,
            uri=uri or f"satchel://{artifact_id}",
            preview_uri=None,
            org_id=ctx.org_id,
            user_id=ctx.user_id,
            client_id=ctx.client_id,
            app_id=ctx.app_id,
            session_id=ctx.session_id,
            files=files,
        )
        return artifact, ArtifactWrite(
            artifact=artifact, inline_blobs=inline, run=self._run_for_write()
        )

    def commit(self, artifact: Artifact, write: ArtifactWrite) -> Artifact:
        try:
            self.store.commit(write)
        except BaseException:
            self.write_failed(write)
            raise
        return artifact

    def write_failed(self, write: ArtifactWrite) -> None:
        """A write that carried the run record failed: the next write must carry it again."""
        if write.run is not None:
            with self._lock:
                self._run_recorded = False

    # -- saves --------------------------------------------------------------------------

    def save_bytes(self, data: bytes, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        def save() -> Artifact:
            blob = self.store.put_bytes(data)
            return self.commit(*self.build_file_write(spec, blob, fallback_key=fallback_key))

        return _once_more_if_collected(save)

    async def save_bytes_async(self, data: bytes, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        """``save_bytes`` from the event loop: a small payload is built right here and only
        waits for the group commit, so thousands of concurrent saves share a few
        transactions; a larger one is written on the I/O threads."""
        if len(data) > self.store.settings.inline_max:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self.executor,
                functools.partial(self.save_bytes, data, spec, fallback_key=fallback_key),
            )
        artifact, write = self.build_file_write(
            spec, self.store.put_bytes(data), fallback_key=fallback_key
        )
        try:
            await self.store.submit_async(write)
        except BaseException:
            self.write_failed(write)
            raise
        return artifact

    def open_sink(self) -> ByteSink:
        return _StoreSink(self)

    def save_file(self, path: str | os.PathLike[str], spec: SaveSpec, *, cleanup: bool) -> Artifact:
        source = Path(path)
        fallback = last_segment(source.name) or "artifact"

        def save() -> Artifact:
            blob = self.store.put_file(source)
            return self.commit(*self.build_file_write(spec, blob, fallback_key=fallback))

        artifact = _once_more_if_collected(save)
        if cleanup:
            with contextlib.suppress(FileNotFoundError):
                source.unlink()
        return artifact

    def ingest_dir(
        self,
        staged_dir: str | os.PathLike[str],
        spec: SaveSpec,
        *,
        include: Iterable[str] | str | None,
        exclude: Iterable[str] | str | None,
        archive: bool,
        cleanup: bool,
    ) -> Artifact:
        entries = walk_directory(staged_dir, include=include, exclude=exclude)
        if archive:
            artifact = self._ingest_archive(entries, spec)
        else:
            from satchel import _faults  # noqa: PLC0415

            files: builtins.list[ArtifactFile] = []
            inline: dict[str, bytes] = {}
            total = 0
            for number, entry in enumerate(entries):
                blob = self.store.put_file(entry.source, follow_symlinks=False)
                if blob.inline is not None:
                    inline[blob.digest.hexdigest] = blob.inline
                files.append(
                    ArtifactFile(
                        path=entry.key,
                        sha256=blob.digest.hexdigest,
                        bytes=blob.size,
                        mime=guess_mime(entry.key),
                    )
                )
                total += blob.size
                if number == 0:
                    _faults.point("dir.file_stored")
            digest = tree_digest((f.path, f.sha256, f.bytes) for f in files)
            artifact = self.commit(
                *self._build(
                    spec,
                    files,
                    sha256=digest.hexdigest,
                    size=total,
                    mime=DIRECTORY_MIME,
                    uri=None,
                    inline=inline,
                )
            )
        if cleanup:
            shutil.rmtree(staged_dir, ignore_errors=True)
        return artifact

    def _ingest_archive(self, entries: Sequence[Any], spec: SaveSpec) -> Artifact:
        blob = _local.write_archive(self.store, entries)
        spec_tar, key = self.archive_spec(spec)
        artifact, write = self.build_file_write(spec_tar, blob, fallback_key=key)
        files = [replace(artifact.files[0], path=key)]
        artifact = replace(artifact, files=files)
        return self.commit(artifact, replace(write, artifact=artifact))

    # -- reads --------------------------------------------------------------------------

    def get_by_id(self, artifact_id: str) -> Artifact | None:
        self.check_id(artifact_id)
        return self.store.get(artifact_id, reader=self.context.reader)

    def require(self, artifact_id: str) -> Artifact:
        artifact = self.get_by_id(artifact_id)
        if artifact is None:
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        return artifact

    def list(
        self,
        *,
        level: str | None,
        include_node: bool,
        tags: Iterable[str] | None,
        filters: Mapping[str, Any] | None,
        limit: int | None,
    ) -> builtins.list[Artifact]:
        query = scope_query(
            self.context,
            level=level,
            include_node=include_node,
            tags=tags,
            filters=filters,
            limit=limit,
        )
        return [] if query is None else self.store.query(query)

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
    ) -> SearchPage:
        """One page of a search; ``limit`` None means every match on one page."""
        text, base = context_search(
            self.context, query=query, mode=mode, time_window=time_window, **filters
        )
        return page_search(
            self.store.query,
            self.text,
            base,
            text=text,
            mode=mode,
            cursor=cursor,
            limit=limit,
            paged=paged,
        )

    def pin(self, artifact_id: str, pinned: bool) -> None:
        if self.context.reader is not None:
            self.require(artifact_id)  # unreadable: not found (who may pin is the caller's)
        if not self.store.index.set_pinned(
            artifact_id, bool(pinned), updated_at=format_time(utcnow())
        ):
            raise NotFoundError(f"no artifact with id {artifact_id!r}")

    def _note_use(self, artifact: Artifact) -> None:
        key = (artifact.artifact_id, self.context.run_id, self.context.node_id)
        used = Occurrence(
            artifact_id=key[0], run_id=key[1], node_id=key[2], event="used", at=utcnow()
        )
        self._uses.once(key, lambda: self.store.add_occurrences([used]))

    def lineage(self, artifact_id: str) -> builtins.list[Occurrence]:
        # An unknown (or unreadable) id is NotFoundError, as on a server: not no history.
        self.require(artifact_id)
        return self.store.index.occurrences(artifact_id, reader=self.context.reader)

    def load_bytes_by_id(self, artifact_id: str) -> bytes:
        artifact = self.require(artifact_id)
        data = self._read(artifact, self.single_file(artifact))
        self._note_use(artifact)
        return data

    def _read(self, artifact: Artifact, file: ArtifactFile) -> bytes:
        return self.store.read_file(
            file, what=f"artifact {artifact.artifact_id} file {file.path!r}"
        )

    def load_bytes(self, uri: str | os.PathLike[str]) -> bytes:
        blob = _local.own_blob(self.store, uri)
        if blob is not None:
            return self.store.read_file(blob, what=f"blob {blob.sha256}")
        target = parse_uri(uri)
        if target.artifact_id is not None:
            artifact = self.require(target.artifact_id)
            data = self._read(artifact, self.single_file(artifact, target.file_path))
            self._note_use(artifact)
            return data
        return read_local(target)

    # -- materialising ------------------------------------------------------------------

    def as_local_file(
        self, artifact_or_uri: Artifact | str | os.PathLike[str], *, must_exist: bool
    ) -> str:
        if not isinstance(artifact_or_uri, Artifact):
            blob = _local.own_blob(self.store, artifact_or_uri)
            if blob is not None:
                dest = self.store.local_dir / "sha256" / blob.sha256
                if not self.store.local_copy_matches(blob, dest):
                    self.store.materialise(blob, dest, what=f"blob {blob.sha256}")
                return str(dest)
        artifact, file_path, target = artifact_target(artifact_or_uri, self.require)
        if artifact is not None:
            file = self.single_file(artifact, file_path)
            dest = self.store.local_dir / artifact.artifact_id / file.path
            if not self.store.local_copy_matches(file, dest):
                self.store.materialise(
                    file, dest, what=f"artifact {artifact.artifact_id} file {file.path!r}"
                )
            self._note_use(artifact)
            return str(dest)
        assert target is not None
        return local_file(target, must_exist=must_exist)

    def as_local_dir(
        self, artifact_or_uri: Artifact | str | os.PathLike[str], *, must_exist: bool
    ) -> str:
        artifact, _, target = artifact_target(artifact_or_uri, self.require)
        if artifact is None:
            assert target is not None
            return local_dir(target, must_exist=must_exist)
        dest = self.store.local_dir / artifact.artifact_id

        def materialise(file: ArtifactFile, path: Path) -> None:
            what = f"artifact {artifact.artifact_id} file {file.path!r}"
            self.store.materialise(file, path, what=what)

        _local.local_tree(
            artifact,
            dest,
            work_dir=self.store.local_dir,
            materialise=materialise,
            chunk_size=self.store.settings.chunk_size,
        )
        self._note_use(artifact)
        return str(dest)

    # -- runs ---------------------------------------------------------------------------

    def run_recorded(self) -> bool:
        return self.store.get_run(self.context.run_id) is not None

    def finish_run(self, status: FinalStatus) -> None:
        ctx = self.context
        if self.store.get_run(ctx.run_id) is None:
            self.store.index.ensure_run(self._new_run())
        self.store.set_run_status(ctx.run_id, status, ended_at=format_time(utcnow()))

    def close(self) -> None:
        self.store.close()


def _once_more_if_collected(save: Callable[[], Artifact]) -> Artifact:
    """Run a save; when a collection removed the blob it found stored before it could
    commit (``BlobCollectedError``), store the bytes anew, once: the source is at hand."""
    try:
        return save()
    except BlobCollectedError:
        return save()
