"""The logic both facades share: one blocking implementation of every operation.

``SyncArtifactFacade`` calls these methods directly; ``ArtifactFacade`` runs them on the
store's I/O threads (and runs small saves on the event loop, since they do no I/O before
the group commit). Nothing here knows whether it was called from async code.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from satchel.errors import (
    ArtifactIsDirectoryError,
    ArtifactNotDirectoryError,
    InvalidJSONError,
    InvalidMetadataError,
    NotFoundError,
    ValidationError,
)
from satchel.facade import _local
from satchel.facade._paging import (
    MAX_PAGE,
    SearchPage,
    decode_cursor,
    encode_cursor,
    window_start,
)
from satchel.facade._scope import ContextInfo, ScopeLevel, same_label, scope_query
from satchel.facade._text import TextSearcher
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
from satchel.store import ArtifactStore, StoredBlob
from satchel.uris import ParsedURI, parse_uri
from satchel.validation import (
    guess_mime,
    guess_text_mime,
    validate_extension,
    validate_file_key,
    validate_labels,
    validate_metrics,
    validate_name,
    validate_tags,
    validate_token,
)

__all__ = ["ContextInfo", "FacadeCore", "SaveSpec", "ScopeLevel"]

TAR_MIME: Final = "application/x-tar"


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveSpec:
    """Validated metadata for one save."""

    kind: str | None
    name: str | None
    labels: dict[str, Any]
    metrics: dict[str, float]
    tags: list[str]
    pinned: bool
    mime: str | None
    model_id: str | None = None
    model_version: str | None = None


def _last_segment(text: str | None) -> str | None:
    if not text:
        return None
    segment = text.rstrip("/").rsplit("/", 1)[-1]
    try:
        return validate_file_key(segment)
    except ValidationError:
        return None


class FacadeCore:
    """Every facade operation, blocking, over one store and one context."""

    def __init__(
        self, store: ArtifactStore, context: ContextInfo, *, embedder: Embedder | None = None
    ) -> None:
        self.store = store
        self.context = context
        self.text = TextSearcher(store.index, embedder)
        self._run_recorded = False
        self._used: set[tuple[str, str | None, str | None]] = set()
        self._lock = threading.Lock()

    # -- building saves -----------------------------------------------------------------

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
    ) -> SaveSpec:
        """Validate a save's metadata; the context's scope labels are added to its labels."""
        if kind is not None:
            validate_token(kind, what="kind")
        merged = validate_labels(labels)
        for key, value in self.context.scope.items():
            if key in merged and not same_label(merged[key], value):
                raise InvalidMetadataError(
                    f"label {key!r}={merged[key]!r} conflicts with the context's scope label "
                    f"{key!r}={value!r}"
                )
            merged[key] = value
        if suggested_uri is not None:
            validate_token(suggested_uri, what="suggested_uri", limit=2048)
            merged.setdefault("suggested_uri", suggested_uri)
        if name is not None:
            name = validate_name(name)
        else:
            derived = _last_segment(suggested_uri) or default_name
            name = validate_name(derived) if derived else None
        if mime is not None:
            validate_token(mime, what="mime")
        for value, what in ((model_id, "model_id"), (model_version, "model_version")):
            if value is not None:
                validate_token(value, what=what)
        return SaveSpec(
            kind=kind,
            name=name,
            labels=merged,
            metrics=validate_metrics(metrics),
            tags=validate_tags(tags),
            pinned=bool(pin),
            mime=mime,
            model_id=model_id,
            model_version=model_version,
        )

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
        key = _last_segment(spec.name) or fallback_key
        mime = spec.mime or guess_mime(key)
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

    def text_save(
        self, payload: str, *, mime: str | None, **meta: Any
    ) -> tuple[bytes, SaveSpec, str]:
        """Bytes, spec and fallback file key of a ``save_text``."""
        if not isinstance(payload, str):
            raise ValidationError(f"save_text takes a str, not {type(payload).__name__}")
        name = meta.get("name") or meta.get("suggested_uri")
        spec = self.spec(mime=mime or guess_text_mime(name), **meta)
        return payload.encode("utf-8"), spec, "artifact.txt"

    def json_save(
        self, payload: Any, *, mime: str | None, **meta: Any
    ) -> tuple[bytes, SaveSpec, str]:
        """Bytes, spec and fallback file key of a ``save_json``."""
        try:
            data = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"payload is not JSON-serialisable: {exc}") from exc
        return data, self.spec(mime=mime or "application/json", **meta), "artifact.json"

    def file_spec(self, path: str | os.PathLike[str], **meta: Any) -> SaveSpec:
        """The spec of a ``save_file``: named after the file unless told otherwise."""
        return self.spec(default_name=os.path.basename(os.fspath(path)) or None, **meta)

    def dir_spec(self, staged_dir: str | os.PathLike[str], **meta: Any) -> SaveSpec:
        """The spec of an ``ingest_dir``: named after the directory unless told otherwise."""
        default = os.path.basename(os.path.normpath(os.fspath(staged_dir))) or None
        return self.spec(default_name=default, **meta)

    # -- saves --------------------------------------------------------------------------

    def save_bytes(self, data: bytes, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        blob = self.store.put_bytes(data)
        return self.commit(*self.build_file_write(spec, blob, fallback_key=fallback_key))

    def save_file(self, path: str | os.PathLike[str], spec: SaveSpec, *, cleanup: bool) -> Artifact:
        source = Path(path)
        blob = self.store.put_file(source)
        fallback = _last_segment(source.name) or "artifact"
        artifact = self.commit(*self.build_file_write(spec, blob, fallback_key=fallback))
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
        named = spec if spec.name else replace(spec, name="archive.tar")
        key = _last_segment(named.name) or "archive.tar"
        if not key.endswith(".tar"):
            key += ".tar"
        spec_tar = replace(named, mime=TAR_MIME)
        artifact, write = self.build_file_write(spec_tar, blob, fallback_key=key)
        files = [replace(artifact.files[0], path=key)]
        artifact = replace(artifact, files=files)
        return self.commit(artifact, replace(write, artifact=artifact))

    # -- staging ------------------------------------------------------------------------

    def stage_path(self, ext: str = "") -> str:
        return str(self.store.staging_dir / f"{new_id()}{validate_extension(ext)}")

    def stage_dir(self, suffix: str = "") -> str:
        if suffix:
            validate_file_key(suffix)
            if "/" in suffix:
                raise ValidationError(f"a staging suffix must not contain '/': {suffix!r}")
        path = self.store.staging_dir / f"{new_id()}{suffix}"
        path.mkdir(parents=True)
        return str(path)

    def is_staged(self, path: str | os.PathLike[str]) -> bool:
        resolved = Path(os.path.realpath(path))
        return self.store.staging_dir.resolve() in resolved.parents

    # -- reads --------------------------------------------------------------------------

    def get_by_id(self, artifact_id: str) -> Artifact | None:
        if not isinstance(artifact_id, str) or not artifact_id:
            raise ValidationError("artifact_id must be a non-empty string")
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
        if query is not None and not isinstance(query, str):
            raise ValidationError(f"query must be a string, not {type(query).__name__}")
        if query and query.strip():
            return self._text_search(
                query,
                mode=mode,
                cursor=cursor,
                limit=limit,
                paged=paged,
                time_window=time_window,
                **filters,
            )
        if mode not in (None, "structured"):
            raise ValidationError(f"search mode {mode!r} needs a query")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValidationError(f"limit must be a non-negative integer, got {limit!r}")
        if paged and (limit is None or not 1 <= limit <= MAX_PAGE):
            raise ValidationError(f"a page's limit must be from 1 to {MAX_PAGE}: {limit!r}")
        base = scope_query(
            self.context, created_since=window_start(time_window), limit=None, **filters
        )
        if base is None:
            return SearchPage()
        if cursor is not None:
            base = decode_cursor(base, cursor)
        if limit is None:
            return SearchPage(items=self.store.query(base))
        rows = self.store.query(replace(base, limit=limit + 1))
        if len(rows) <= limit or limit == 0:
            return SearchPage(items=rows[:limit])
        return SearchPage(items=rows[:limit], next_cursor=encode_cursor(base, rows[limit - 1]))

    def _text_search(
        self,
        text: str,
        *,
        mode: str | None,
        cursor: str | None,
        limit: int | None,
        paged: bool,
        time_window: str | None,
        **filters: Any,
    ) -> SearchPage:
        # Relevance orders a text search; a metric only requires that artifacts have it.
        metric = filters.pop("metric", None)
        filters.pop("metric_mode", None)
        base = scope_query(self.context, created_since=window_start(time_window), **filters)
        if base is None:
            return SearchPage()
        if metric is not None:
            base = replace(base, has_metrics=(validate_token(metric, what="metric"),))
        return self.text.page(text, mode=mode, query=base, limit=limit, cursor=cursor, paged=paged)

    def pin(self, artifact_id: str, pinned: bool) -> None:
        if self.context.reader is not None:
            self.require(artifact_id)  # unreadable: not found (who may pin is the caller's)
        if not self.store.index.set_pinned(
            artifact_id, bool(pinned), updated_at=format_time(utcnow())
        ):
            raise NotFoundError(f"no artifact with id {artifact_id!r}")

    def _note_use(self, artifact: Artifact) -> None:
        key = (artifact.artifact_id, self.context.run_id, self.context.node_id)
        with self._lock:
            if key in self._used:
                return
            self._used.add(key)
        self.store.add_occurrences(
            [
                Occurrence(
                    artifact_id=artifact.artifact_id,
                    run_id=key[1],
                    node_id=key[2],
                    event="used",
                    at=utcnow(),
                )
            ]
        )

    def lineage(self, artifact_id: str) -> builtins.list[Occurrence]:
        if self.context.reader is not None:
            self.require(artifact_id)
        return self.store.index.occurrences(artifact_id)

    @staticmethod
    def single_file(artifact: Artifact, path: str | None = None) -> ArtifactFile:
        """The file a file-level read means: the named one, or the only one."""
        if path is not None:
            for file in artifact.files:
                if file.path == path:
                    return file
            raise NotFoundError(f"artifact {artifact.artifact_id} has no file {path!r}")
        if artifact.is_dir:
            raise ArtifactIsDirectoryError(
                f"artifact {artifact.artifact_id} is a directory; name a file "
                f"(satchel://{artifact.artifact_id}/<path>) or use as_local_dir"
            )
        if len(artifact.files) != 1:
            raise NotFoundError(f"artifact {artifact.artifact_id} has no single file")
        return artifact.files[0]

    def load_bytes_by_id(self, artifact_id: str) -> bytes:
        artifact = self.require(artifact_id)
        data = self._read(artifact, self.single_file(artifact))
        self._note_use(artifact)
        return data

    def _read(self, artifact: Artifact, file: ArtifactFile) -> bytes:
        return self.store.read_file(
            file, what=f"artifact {artifact.artifact_id} file {file.path!r}"
        )

    @staticmethod
    def decode_text(data: bytes, encoding: str, errors: str) -> str:
        return data.decode(encoding, errors)

    @staticmethod
    def decode_json(data: bytes, encoding: str, errors: str, *, what: str) -> Any:
        text = data.decode(encoding, errors)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidJSONError(
                f"{what} is not valid JSON: {exc.msg}", exc.doc, exc.pos
            ) from exc

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
        assert target.local_path is not None
        try:
            return target.local_path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"no such file: {target.local_path}") from exc
        except IsADirectoryError as exc:
            raise ArtifactIsDirectoryError(f"{target.local_path} is a directory") from exc

    # -- materialising ------------------------------------------------------------------

    def _artifact_target(
        self, artifact_or_uri: Artifact | str | os.PathLike[str]
    ) -> tuple[Artifact | None, str | None, ParsedURI | None]:
        if isinstance(artifact_or_uri, Artifact):
            return self.require(artifact_or_uri.artifact_id), None, None
        target = parse_uri(artifact_or_uri)
        if target.artifact_id is not None:
            return self.require(target.artifact_id), target.file_path, target
        return None, None, target

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
        artifact, file_path, target = self._artifact_target(artifact_or_uri)
        if artifact is not None:
            file = self.single_file(artifact, file_path)
            dest = self.store.local_dir / artifact.artifact_id / file.path
            if not self.store.local_copy_matches(file, dest):
                self.store.materialise(
                    file, dest, what=f"artifact {artifact.artifact_id} file {file.path!r}"
                )
            self._note_use(artifact)
            return str(dest)
        assert target is not None and target.local_path is not None
        path = target.local_path.resolve()
        if path.is_dir():
            raise ArtifactIsDirectoryError(f"{path} is a directory, not a file")
        if must_exist and not path.is_file():
            raise NotFoundError(f"no such file: {path}")
        return str(path)

    def as_local_dir(
        self, artifact_or_uri: Artifact | str | os.PathLike[str], *, must_exist: bool
    ) -> str:
        artifact, _, target = self._artifact_target(artifact_or_uri)
        if artifact is None:
            assert target is not None and target.local_path is not None
            path = target.local_path.resolve()
            if path.exists() and not path.is_dir():
                raise ArtifactNotDirectoryError(f"{path} is not a directory")
            if must_exist and not path.is_dir():
                raise NotFoundError(f"no such directory: {path}")
            return str(path)
        dest = self.store.local_dir / artifact.artifact_id
        if artifact.is_dir:
            if not _local.tree_matches(self.store, artifact, dest):
                _local.materialise_tree(self.store, artifact, dest)
        elif artifact.mime == TAR_MIME:
            marker = self.store.local_dir / f".{artifact.artifact_id}.extracted"
            if not (marker.is_file() and dest.is_dir()):
                _local.extract_archive(self.store, artifact, self.single_file(artifact), dest)
                marker.write_text(artifact.sha256 or "")
        else:
            raise ArtifactNotDirectoryError(
                f"artifact {artifact.artifact_id} is a file; use as_local_file"
            )
        self._note_use(artifact)
        return str(dest)

    # -- runs ---------------------------------------------------------------------------

    def finish_run(self, status: Literal["done", "crashed", "failed"]) -> None:
        ctx = self.context
        if self.store.get_run(ctx.run_id) is None:
            self.store.index.ensure_run(self._new_run())
        self.store.set_run_status(ctx.run_id, status, ended_at=format_time(utcnow()))
