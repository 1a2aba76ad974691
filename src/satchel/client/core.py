"""``RemoteCore``: every facade operation over a satchel server's HTTP API.

It implements ``satchel.facade.FacadeBackend`` like the embedded ``FacadeCore`` and shares
its validation and naming (``CoreBase``), so ``ArtifactFacade`` and ``SyncArtifactFacade``
work unchanged on top of it: the same calls, the same results, the same error classes.
What only a server knows (who the caller is, what they may read) comes from the token.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import os
import re
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from satchel.client._api import Api
from satchel.client._download import Downloader
from satchel.client._journal import Journal
from satchel.client._query import MAX_PAGE, collect, search_body, to_page
from satchel.client._spool import SpoolSink
from satchel.client._upload import Upload, Uploader
from satchel.config import Settings
from satchel.errors import AuthenticationError, NotFoundError, ValidationError
from satchel.facade import _local
from satchel.facade._paging import SearchPage
from satchel.facade._scope import ContextInfo, scope_query
from satchel.facade._search import context_search
from satchel.facade._shared import (
    CoreBase,
    SaveSpec,
    UseLog,
    artifact_target,
    last_segment,
    local_dir,
    local_file,
    read_local,
)
from satchel.facade._text import DEFAULT_TOP_K, MODES
from satchel.facade.base import ByteSink, FinalStatus
from satchel.hashing import HashingSink
from satchel.ingest import DirEntry, walk_directory, write_tar
from satchel.models import Artifact, ArtifactFile, Occurrence, new_id, parse_time
from satchel.store import local_copy_matches
from satchel.uris import parse_uri
from satchel.validation import guess_mime, validate_limit

__all__ = ["RemoteCore", "open_remote"]

#: Ids the server takes in a path (what it makes, and what a client may choose).
_ID: Final = re.compile(r"[0-9A-Za-z_-]{1,64}")


def open_remote(settings: Settings, info: ContextInfo, *, run_given: bool) -> RemoteCore:
    """Connect to the server ``settings.store`` names, as the user of ``settings.token``.

    The token says who the caller is: the context takes its user and org, and a job
    token's run when no run was given.

    Raises:
        AuthenticationError: no token, or one the server does not accept.
        ValidationError: a ``user_id``/``org_id`` that is not the token's.
        NetworkError: the server cannot be reached.
    """
    if not settings.token:
        raise AuthenticationError(
            f"{settings.store} is a satchel server: give token= (or set SATCHEL_TOKEN)"
        )
    assert settings.store is not None
    api = Api(settings.store, settings.token)
    try:
        me = api.json("GET", "/me", retry=True)
        for field in ("user_id", "org_id"):
            given = getattr(info, field)
            if given is not None and given != me[field]:
                raise ValidationError(
                    f"{field}={given!r} is not the token's ({me[field]!r}): on a server, "
                    "who saves is who the token belongs to; leave it out"
                )
        run_id = info.run_id if run_given or not me.get("run_id") else str(me["run_id"])
        info = replace(info, user_id=me["user_id"], org_id=me["org_id"], run_id=run_id)
        return RemoteCore(api, info, settings, run_named=run_given or bool(me.get("run_id")))
    except BaseException:
        api.close()
        raise


class RemoteCore(CoreBase):
    """Every facade operation, blocking, against one server as one user."""

    def __init__(
        self, api: Api, context: ContextInfo, settings: Settings, *, run_named: bool = True
    ) -> None:
        self.context = context
        #: Whether the run is one the caller named (or a job token's), or one this context
        #: has since recorded by saving: only then does a use name it (see ``_note_use``).
        self._run_known = run_named
        self.settings = settings
        self.staging_dir = settings.home / "staging"
        base = settings.home / "remote" / api.key
        #: Verified local copies (``as_local_file``/``as_local_dir``), by artifact id.
        self.copies_dir = base / "artifacts"
        for directory in (self.staging_dir, self.copies_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._api = api
        self._uploads = Uploader(
            api,
            Journal(base / "uploads"),
            scope=f"{api.url} {context.user_id}",
            chunk_size=settings.upload_chunk,
        )
        self._downloads = Downloader(api)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._uses = UseLog()

    @property
    def executor(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.settings.io_threads, thread_name_prefix="satchel-remote"
                )
            return self._executor

    # -- saves --------------------------------------------------------------------------

    def _meta(self, spec: SaveSpec, *, directory: bool, mime: str | None) -> dict[str, Any]:
        ctx = self.context
        return {
            "name": spec.name,
            "kind": spec.kind,
            "run_id": ctx.run_id,
            "session_id": ctx.session_id,
            "graph_id": ctx.graph_id,
            "node_id": ctx.node_id,
            "tool_name": ctx.tool_name,
            "tool_version": ctx.tool_version,
            "client_id": ctx.client_id,
            "app_id": ctx.app_id,
            "model_id": spec.model_id,
            "model_version": spec.model_version,
            "tags": spec.tags,
            "labels": spec.labels,
            "metrics": spec.metrics,
            "pinned": spec.pinned,
            "mime": mime,
            "directory": directory,
        }

    def _save_file_uploads(self, spec: SaveSpec, uploads: Sequence[Upload], mime: str) -> Artifact:
        return self._uploads.save(self._meta(spec, directory=False, mime=mime), uploads)

    def save_bytes(self, data: bytes, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        key, mime = self.file_key(spec, fallback_key)
        return self._save_file_uploads(spec, [Upload.of_bytes(key, data, mime)], mime)

    async def save_bytes_async(self, data: bytes, spec: SaveSpec, *, fallback_key: str) -> Artifact:
        loop = asyncio.get_running_loop()
        call = functools.partial(self.save_bytes, data, spec, fallback_key=fallback_key)
        return await loop.run_in_executor(self.executor, call)

    def save_file(self, path: str | os.PathLike[str], spec: SaveSpec, *, cleanup: bool) -> Artifact:
        source = Path(path)
        key, mime = self.file_key(spec, last_segment(source.name) or "artifact")
        artifact = self._save_file_uploads(spec, [Upload.of_file(key, source, mime)], mime)
        if cleanup:
            source.unlink(missing_ok=True)
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
            uploads = [
                Upload.of_file(e.key, e.source, guess_mime(e.key), follow_symlinks=False)
                for e in entries
            ]
            meta = self._meta(spec, directory=True, mime=None)
            artifact = self._uploads.save(meta, uploads)
        if cleanup:
            shutil.rmtree(staged_dir, ignore_errors=True)
        return artifact

    def _ingest_archive(self, entries: Sequence[DirEntry], spec: SaveSpec) -> Artifact:
        spec_tar, key = self.archive_spec(spec)
        assert spec_tar.mime is not None
        path = self.staging_dir / f".{new_id()}.tar"
        try:
            with path.open("wb") as out:
                hashing = HashingSink(out)
                write_tar(hashing, entries)
            upload = Upload(
                path=key,
                sha256=hashing.digest().hexdigest,
                size=hashing.size,
                mime=spec_tar.mime,
                source=path,
                follow_symlinks=False,
            )
            return self._save_file_uploads(spec_tar, [upload], spec_tar.mime)
        finally:
            path.unlink(missing_ok=True)

    def open_sink(self) -> ByteSink:
        return SpoolSink(
            staging_dir=self.staging_dir, key_of=self.file_key, save=self._save_file_uploads
        )

    # -- reads --------------------------------------------------------------------------

    def get_by_id(self, artifact_id: str) -> Artifact | None:
        self.check_id(artifact_id)
        if not _ID.fullmatch(artifact_id):
            return None  # no artifact can have this id
        try:
            found = self._api.json("GET", f"/artifacts/{artifact_id}", retry=True)
        except NotFoundError:
            return None
        artifact = Artifact.from_dict(found)
        # A pending artifact (an upload under way) is not there yet, as in a local store.
        return artifact if artifact.status == "completed" else None

    def require(self, artifact_id: str) -> Artifact:
        artifact = self.get_by_id(artifact_id)
        if artifact is None:
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        return artifact

    def _post_search(self, body: dict[str, Any]) -> Any:
        return self._api.json("POST", "/search", json=body, retry=True)

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
        if query is None or limit == 0:
            return []
        body = search_body(query, text=None, mode=None, time_window=None)
        return collect(self._post_search, body, limit)

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
        """One page of a search (``paged``), or every match / the top ``limit``."""
        text, base = context_search(
            self.context, query=query, mode=mode, time_window=time_window, **filters
        )
        if text is not None and mode is not None and mode not in MODES:
            raise ValidationError(
                f"unknown search mode {mode!r}; use 'lexical', 'semantic' or 'hybrid' "
                "(or no query for a structured search)"
            )
        if limit is not None:
            limit = validate_limit(limit)
        if paged and (limit is None or not 1 <= limit <= MAX_PAGE):
            raise ValidationError(f"a page's limit must be from 1 to {MAX_PAGE}: {limit!r}")
        if base is None or limit == 0:
            return SearchPage()
        body = search_body(base, text=text, mode=mode, time_window=time_window)
        if paged:
            return to_page(self._post_search({**body, "limit": limit, "cursor": cursor}))
        if text is None:
            return SearchPage(items=collect(self._post_search, body, limit))
        top = DEFAULT_TOP_K if limit is None else limit
        if top <= MAX_PAGE:
            # The facade's search ranks its top ``limit`` in one go: so does the server.
            return to_page(self._post_search({**body, "limit": top, "paged": False}))
        return SearchPage(items=collect(self._post_search, body, top))

    def pin(self, artifact_id: str, pinned: bool) -> None:
        self.check_id(artifact_id)
        if not _ID.fullmatch(artifact_id):
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        self._api.request(
            "POST", f"/artifacts/{artifact_id}/pin", json={"pinned": bool(pinned)}, retry=True
        )

    def lineage(self, artifact_id: str) -> builtins.list[Occurrence]:
        self.check_id(artifact_id)
        if not _ID.fullmatch(artifact_id):
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        found = self._api.json("GET", f"/artifacts/{artifact_id}/lineage", retry=True)
        return [
            Occurrence(
                artifact_id=item["artifact_id"],
                run_id=item["run_id"],
                node_id=item["node_id"],
                event=item["event"],
                at=parse_time(item["at"]),
            )
            for item in found["items"]
        ]

    def _use_run(self) -> str | None:
        """The run a use is recorded for: None for a fresh run that has saved nothing, which
        leaves no record (docs/sdk.md), rather than a run the server would create for it."""
        if not self._run_known:
            self._run_known = self.run_recorded()
        return self.context.run_id if self._run_known else None

    def _note_use(self, artifact: Artifact) -> None:
        key = (artifact.artifact_id, self.context.run_id, self.context.node_id)
        path = f"/artifacts/{artifact.artifact_id}/uses"
        body = {"run_id": self._use_run(), "node_id": key[2]}
        self._uses.once(key, lambda: self._api.request("POST", path, json=body, retry=False))

    def load_bytes_by_id(self, artifact_id: str) -> bytes:
        artifact = self.require(artifact_id)
        data = self._downloads.read(artifact.artifact_id, self.single_file(artifact))
        self._note_use(artifact)
        return data

    def load_bytes(self, uri: str | os.PathLike[str]) -> bytes:
        target = parse_uri(uri)
        if target.artifact_id is None:
            return read_local(target)
        artifact = self.require(target.artifact_id)
        file = self.single_file(artifact, target.file_path)
        data = self._downloads.read(artifact.artifact_id, file)
        self._note_use(artifact)
        return data

    # -- materialising ------------------------------------------------------------------

    def _materialise(self, artifact: Artifact) -> _local.Materialise:
        def materialise(file: ArtifactFile, path: Path) -> None:
            self._downloads.to_file(artifact.artifact_id, file, path)

        return materialise

    def as_local_file(
        self, artifact_or_uri: Artifact | str | os.PathLike[str], *, must_exist: bool
    ) -> str:
        artifact, file_path, target = artifact_target(artifact_or_uri, self.require)
        if artifact is None:
            assert target is not None
            return local_file(target, must_exist=must_exist)
        file = self.single_file(artifact, file_path)
        dest = self.copies_dir / artifact.artifact_id / file.path
        if not local_copy_matches(file, dest, chunk_size=self.settings.chunk_size):
            self._materialise(artifact)(file, dest)
        self._note_use(artifact)
        return str(dest)

    def as_local_dir(
        self, artifact_or_uri: Artifact | str | os.PathLike[str], *, must_exist: bool
    ) -> str:
        artifact, _, target = artifact_target(artifact_or_uri, self.require)
        if artifact is None:
            assert target is not None
            return local_dir(target, must_exist=must_exist)
        dest = self.copies_dir / artifact.artifact_id
        _local.local_tree(
            artifact,
            dest,
            work_dir=self.copies_dir,
            materialise=self._materialise(artifact),
            chunk_size=self.settings.chunk_size,
        )
        self._note_use(artifact)
        return str(dest)

    # -- runs ---------------------------------------------------------------------------

    def _run_path(self) -> str:
        return f"/runs/{quote(self.context.run_id, safe='')}"

    def run_recorded(self) -> bool:
        try:
            self._api.request("GET", self._run_path(), retry=True)
        except NotFoundError:
            return False
        return True

    def finish_run(self, status: FinalStatus) -> None:
        body = {"status": status}
        try:
            self._api.request("PATCH", self._run_path(), json=body, retry=True)
        except NotFoundError:
            ctx = self.context
            self._api.request(
                "POST",
                "/runs",
                json={"run_id": ctx.run_id, "session_id": ctx.session_id},
                retry=True,
            )
            self._api.request("PATCH", self._run_path(), json=body, retry=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._uploads.close()
        self._api.close()
