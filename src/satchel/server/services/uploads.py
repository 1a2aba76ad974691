"""The second phase: a file's bytes arrive in chunks (or straight in the bucket), are
verified against the declared SHA-256, and complete the file; the last file completes
the artifact."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio.to_thread

from satchel import _faults
from satchel.errors import ConflictError, IntegrityError, ValidationError
from satchel.hashing import Digest
from satchel.models import Artifact, ArtifactFile, ArtifactStatus, format_time, utcnow
from satchel.server.schemas.artifacts import PresignOut, UploadState
from satchel.server.services.access import find_own_pending
from satchel.server.services.artifacts import file_of
from satchel.server.state import ServerState
from satchel.storage.base import BlobSigner
from satchel.tenancy.base import Actor

__all__ = ["adopt", "pending_file", "presign", "published", "upload_chunk", "upload_state"]


def pending_file(
    state: ServerState, actor: Actor, artifact_id: str, path: str
) -> tuple[Artifact, ArtifactFile]:
    """The caller's own artifact (404 otherwise) and one of its files."""
    artifact = find_own_pending(state, actor, artifact_id)
    return artifact, file_of(artifact, path)


def _state(file: ArtifactFile, received: int, artifact_status: ArtifactStatus) -> UploadState:
    return UploadState(
        path=file.path,
        bytes=file.bytes,
        received=received,
        status=file.status,
        artifact_status=artifact_status,
    )


def _completed(file: ArtifactFile, artifact_status: ArtifactStatus) -> UploadState:
    done = ArtifactFile(
        path=file.path, sha256=file.sha256, bytes=file.bytes, mime=file.mime, status="completed"
    )
    return _state(done, file.bytes, artifact_status)


def upload_state(state: ServerState, actor: Actor, artifact_id: str, path: str) -> UploadState:
    """How much of a file has arrived (a completed file: all of it)."""
    artifact, file = pending_file(state, actor, artifact_id, path)
    if file.status == "completed":
        return _state(file, file.bytes, artifact.status)
    return _state(file, state.staging.received(artifact_id, path), artifact.status)


def _finish(state: ServerState, artifact_id: str, file: ArtifactFile) -> ArtifactStatus | None:
    """Verify a fully received file and complete it; None when another request is on it.

    A mismatch drops the staged bytes (the file stays pending) and raises ``ConflictError``.
    """
    with state.staging.try_locked(artifact_id, file.path) as fd:
        if fd is None:
            return None
        if state.staging.received(artifact_id, file.path) != file.bytes:
            return None
        part = state.staging.part_path(artifact_id, file.path)
        hashed = state.staging.digest(artifact_id, file.path)
        _faults.point("upload.staged_complete")
        try:
            blob = state.store.take_file(
                part, Digest(hexdigest=file.sha256), file.bytes, hashed=hashed
            )
        except ConflictError as exc:
            state.staging.drop(artifact_id, file.path)
            raise ConflictError(
                f"the upload of {file.path!r} failed its check: {exc}; the file stays pending: "
                "upload it again from offset 0"
            ) from exc
        inline = {} if blob.inline is None else {file.sha256: blob.inline}
        _faults.point("upload.published")
        status = state.uploads.complete_files(
            artifact_id, [file.path], inline=inline, updated_at=format_time(utcnow())
        )
        _faults.point("upload.completed")
        state.staging.drop(artifact_id, file.path)
    if status == "completed":
        state.staging.drop_artifact(artifact_id)
    return status


async def upload_chunk(
    state: ServerState,
    actor: Actor,
    artifact_id: str,
    path: str,
    *,
    offset: int,
    body: AsyncIterator[bytes],
) -> UploadState:
    """Write one chunk of a file at ``offset``; the chunk that completes it verifies it."""
    artifact, file = await anyio.to_thread.run_sync(pending_file, state, actor, artifact_id, path)
    if file.status == "completed":
        raise ConflictError(f"the file {path!r} of artifact {artifact_id} is complete already")
    chunk = await state.staging.write_chunk(
        artifact_id, path, offset=offset, size=file.bytes, body=body
    )
    if chunk.received < file.bytes:
        return _state(file, chunk.received, artifact.status)
    status = await anyio.to_thread.run_sync(_finish, state, artifact_id, file)
    if status is None:
        return _state(file, chunk.received, artifact.status)
    return _completed(file, status)


def presign(
    state: ServerState, actor: Actor, artifact_id: str, path: str, expires_in: int
) -> PresignOut:
    """A URL to PUT a pending file's bytes straight into the bucket."""
    _, file = pending_file(state, actor, artifact_id, path)
    blobs = state.store.blobs
    if not isinstance(blobs, BlobSigner):
        raise ValidationError(
            "this store does not take presigned uploads; PUT the bytes to "
            f"/api/v1/artifacts/{artifact_id}/uploads/<path> instead"
        )
    if file.status == "completed":
        raise ConflictError(f"the file {path!r} of artifact {artifact_id} is complete already")
    signed = blobs.presign_put(timedelta(seconds=expires_in))
    return PresignOut(url=signed.url, token=signed.token, expires_at=format_time(signed.expires_at))


def adopt(state: ServerState, actor: Actor, artifact_id: str, path: str, token: str) -> UploadState:
    """Verify bytes PUT to a presigned URL and complete the file with them."""
    _, file = pending_file(state, actor, artifact_id, path)
    blobs = state.store.blobs
    if not isinstance(blobs, BlobSigner):
        raise ValidationError("this store does not take presigned uploads")
    if file.status == "completed":
        raise ConflictError(f"the file {path!r} of artifact {artifact_id} is complete already")
    try:
        blobs.adopt_upload(token, Digest(hexdigest=file.sha256))
    except IntegrityError as exc:
        raise ConflictError(
            f"the upload of {path!r} failed its check: {exc}; the file stays pending"
        ) from exc
    return published(state, artifact_id, file)


def published(state: ServerState, artifact_id: str, file: ArtifactFile) -> UploadState:
    """Complete a file whose verified blob the store published (from the bucket)."""
    _faults.point("upload.published")
    status = state.uploads.complete_files(
        artifact_id, [file.path], inline={}, updated_at=format_time(utcnow())
    )
    _faults.point("upload.completed")
    if status == "completed":
        with contextlib.suppress(OSError):
            state.staging.drop_artifact(artifact_id)
    return _completed(file, status)
