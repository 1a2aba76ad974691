"""Creating artifacts (two phases, dedup, idempotent retries), their content, deletes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from satchel.errors import (
    ConflictError,
    IndexBackendError,
    InvalidMetadataError,
    NotFoundError,
    PayloadTooLargeError,
    ValidationError,
)
from satchel.hashing import Digest, digest_bytes, tree_digest
from satchel.index import ArtifactWrite
from satchel.models import (
    DIRECTORY_MIME,
    Artifact,
    ArtifactFile,
    Run,
    format_time,
    utcnow,
)
from satchel.server.schemas.artifacts import ArtifactCreate, ContentIn, FileIn
from satchel.server.services.access import check_run_write, find_managed, find_own_pending
from satchel.server.state import ServerState
from satchel.store import StoredBlob
from satchel.tenancy.base import Actor
from satchel.validation import (
    guess_mime,
    validate_file_key,
    validate_labels,
    validate_metrics,
    validate_name,
    validate_tags,
    validate_token,
)

__all__ = [
    "Created",
    "add_contents",
    "create_artifact",
    "decode_content",
    "delete_artifact",
    "file_of",
]

_TOKENS = (
    "kind",
    "run_id",
    "session_id",
    "graph_id",
    "node_id",
    "tool_name",
    "tool_version",
    "model_id",
    "model_version",
    "client_id",
    "app_id",
    "mime",
)


@dataclass(frozen=True, slots=True)
class Created:
    """The artifact a create answered, and whether this request made it."""

    artifact: Artifact
    new: bool


def decode_content(state: ServerState, path: str, text: str, sha256: str, size: int) -> bytes:
    """A file's inline content, checked against what was declared for it."""
    limit = state.settings.content_max
    if size > limit or len(text) > (limit // 3 + 1) * 4:
        raise PayloadTooLargeError(
            f"inline content of {path!r} is over {limit} bytes; upload it instead"
        )
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"the content of {path!r} is not base64") from exc
    actual = digest_bytes(data)
    if len(data) != size or actual.hexdigest != sha256:
        raise ConflictError(
            f"the content of {path!r} ({len(data)} bytes, {actual}) is not what was declared "
            f"({size} bytes, sha256:{sha256})"
        )
    return data


def _strict_text(value: object, what: str) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidMetadataError(f"{what} is not valid Unicode text") from exc


@dataclass(frozen=True, slots=True)
class _Meta:
    """A create request's metadata, validated as the SDK validates a save's."""

    text: dict[str, str | None]
    name: str | None
    preview_uri: str | None
    labels: dict[str, object]
    metrics: dict[str, float]
    tags: list[str]


def _validated(body: ArtifactCreate) -> _Meta:
    text: dict[str, str | None] = {}
    for field in _TOKENS:
        value = getattr(body, field)
        text[field] = None if value is None else validate_token(value, what=field)
    labels = validate_labels(body.labels)
    for key, value in labels.items():
        _strict_text(key, "a label key")
        _strict_text(value, f"label {key!r}")
    return _Meta(
        text=text,
        name=None if body.name is None else validate_name(body.name),
        preview_uri=None
        if body.preview_uri is None
        else validate_token(body.preview_uri, what="preview_uri", limit=2048),
        labels=labels,
        metrics=validate_metrics(body.metrics),
        tags=validate_tags(body.tags),
    )


def _same_request(existing: Artifact, body: ArtifactCreate, name: str | None) -> bool:
    declared = sorted((f.path, f.sha256, f.bytes) for f in body.files)
    held = sorted((f.path, f.sha256, f.bytes) for f in existing.files)
    return existing.name == name and existing.run_id == body.run_id and declared == held


def _replay(
    state: ServerState, actor: Actor, body: ArtifactCreate, name: str | None
) -> Artifact | None:
    """The artifact an earlier try of this request made (``artifact_id`` as the key)."""
    if body.artifact_id is None:
        return None
    existing = state.uploads.get_any(body.artifact_id)
    if existing is None:
        return None
    if existing.user_id != actor.user_id or not _same_request(existing, body, name):
        raise ConflictError(
            f"artifact id {body.artifact_id!r} is taken by another artifact; "
            "send a new id (or none) for a new artifact"
        )
    if existing.status == "completed":
        # A server killed between completing it and clearing its staged files left them.
        state.staging.drop_artifact(existing.artifact_id)
    return existing


def _held_blob(state: ServerState, actor: Actor, file: FileIn) -> StoredBlob | None:
    """The bytes of ``file`` when the caller's org stores them already (dedup)."""
    if file.bytes == 0:
        empty = digest_bytes(b"")
        if file.sha256 != empty.hexdigest:
            raise ConflictError(
                f"{file.path!r} has 0 bytes, which hash to {empty}, not sha256:{file.sha256}"
            )
        return StoredBlob(digest=empty, size=0, inline=b"")
    if not state.uploads.org_holds_blob(file.sha256, file.bytes, actor.org_id):
        return None
    digest = Digest(hexdigest=file.sha256)
    if file.bytes <= state.store.settings.inline_max:
        data = state.store.index.inline_blob(file.sha256)
        if data is not None and len(data) == file.bytes:
            return StoredBlob(digest=digest, size=file.bytes, inline=data)
    if state.store.blobs.stat(digest) == file.bytes:
        return StoredBlob(digest=digest, size=file.bytes)
    return None


def _files(
    state: ServerState, actor: Actor, body: ArtifactCreate
) -> tuple[list[ArtifactFile], dict[str, bytes]]:
    seen: set[str] = set()
    files: list[ArtifactFile] = []
    inline: dict[str, bytes] = {}
    for item in body.files:
        path = validate_file_key(item.path)
        if path in seen:
            raise ValidationError(f"the file {path!r} is listed twice")
        seen.add(path)
        mime = validate_token(item.mime, what="mime") if item.mime else guess_mime(path)
        blob: StoredBlob | None
        if item.content is not None:
            data = decode_content(state, path, item.content, item.sha256, item.bytes)
            blob = state.store.put_bytes(data)
        else:
            blob = _held_blob(state, actor, item)
        if blob is not None and blob.inline is not None:
            inline[item.sha256] = blob.inline
        files.append(
            ArtifactFile(
                path=path,
                sha256=item.sha256,
                bytes=item.bytes,
                mime=mime,
                status="pending" if blob is None else "completed",
            )
        )
    return files, inline


def create_artifact(state: ServerState, actor: Actor, body: ArtifactCreate) -> Created:
    """Record a new artifact (or find the one an earlier try of this request made)."""
    if actor.run_id is not None and body.run_id is None:
        body = body.model_copy(update={"run_id": actor.run_id})
    meta = _validated(body)
    check_run_write(actor, body.run_id)
    replayed = _replay(state, actor, body, meta.name)
    if replayed is not None:
        return Created(replayed, new=False)
    directory = body.directory if body.directory is not None else len(body.files) != 1
    if not directory and len(body.files) != 1:
        raise ValidationError("a file artifact has exactly one file (say directory: true)")
    files, inline = _files(state, actor, body)
    total = sum(f.bytes for f in files)
    if directory:
        sha256 = tree_digest((f.path, f.sha256, f.bytes) for f in files).hexdigest
        mime: str | None = DIRECTORY_MIME
        uri = None
    else:
        only = files[0]
        sha256, mime = only.sha256, meta.text["mime"] or only.mime
        small = only.bytes <= state.store.settings.inline_max
        uri = None if small else state.store.blobs.blob_uri(Digest(hexdigest=only.sha256))
    now = utcnow()
    artifact_id = body.artifact_id or _new_id()
    artifact = Artifact(
        artifact_id=artifact_id,
        status="completed" if all(f.status == "completed" for f in files) else "pending",
        sha256=sha256,
        bytes=total,
        mime=mime,
        created_at=now,
        updated_at=now,
        pinned=body.pinned,
        uri=uri or f"satchel://{artifact_id}",
        org_id=actor.org_id,
        user_id=actor.user_id,
        files=files,
        name=meta.name,
        kind=meta.text["kind"],
        run_id=meta.text["run_id"],
        session_id=meta.text["session_id"],
        graph_id=meta.text["graph_id"],
        node_id=meta.text["node_id"],
        tool_name=meta.text["tool_name"],
        tool_version=meta.text["tool_version"],
        model_id=meta.text["model_id"],
        model_version=meta.text["model_version"],
        client_id=meta.text["client_id"],
        app_id=meta.text["app_id"],
        preview_uri=meta.preview_uri,
        tags=meta.tags,
        labels=meta.labels,
        metrics=meta.metrics,
    )
    run = None
    if artifact.run_id is not None:
        run = Run(
            run_id=artifact.run_id,
            org_id=actor.org_id,
            user_id=actor.user_id,
            session_id=artifact.session_id,
            status="running",
            started_at=now,
        )
    try:
        state.store.commit(ArtifactWrite(artifact=artifact, inline_blobs=inline, run=run))
    except IndexBackendError:
        # Two tries of one request at once: the first one's insert won.
        replayed = _replay(state, actor, body, meta.name)
        if replayed is None:
            raise
        return Created(replayed, new=False)
    return Created(artifact, new=True)


def _new_id() -> str:
    from satchel.models import new_id  # noqa: PLC0415

    return new_id()


def add_contents(
    state: ServerState, actor: Actor, artifact_id: str, items: Sequence[ContentIn]
) -> Artifact:
    """Complete pending files of an artifact from inline content, in one transaction."""
    artifact = find_own_pending(state, actor, artifact_id)
    by_path = {f.path: f for f in artifact.files}
    inline: dict[str, bytes] = {}
    done: list[str] = []
    for item in items:
        file = by_path.get(item.path)
        if file is None:
            raise ValidationError(f"artifact {artifact_id} has no file {item.path!r}")
        if file.status == "completed":
            continue
        data = decode_content(state, file.path, item.content, file.sha256, file.bytes)
        blob = state.store.put_bytes(data)
        if blob.inline is not None:
            inline[file.sha256] = blob.inline
        done.append(file.path)
    if done:
        state.uploads.complete_files(
            artifact_id, done, inline=inline, updated_at=format_time(utcnow())
        )
    final = state.uploads.get_any(artifact_id)
    assert final is not None
    if final.status == "completed":
        state.staging.drop_artifact(artifact_id)
    return final


def delete_artifact(state: ServerState, actor: Actor, artifact_id: str) -> None:
    """Delete an artifact the caller manages, then the blobs no one references any more."""
    find_managed(state, actor, artifact_id)
    state.store.delete_artifact(artifact_id)
    state.staging.drop_artifact(artifact_id)


def file_of(artifact: Artifact, path: str | None) -> ArtifactFile:
    """The artifact's file at ``path`` (None: its only file)."""
    if path is None:
        if len(artifact.files) != 1:
            raise ValidationError(
                f"artifact {artifact.artifact_id} has {len(artifact.files)} files; name one"
            )
        return artifact.files[0]
    for file in artifact.files:
        if file.path == path:
            return file
    raise NotFoundError(f"artifact {artifact.artifact_id} has no file {path!r}")
