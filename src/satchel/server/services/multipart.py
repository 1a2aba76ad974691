"""Multipart uploads straight to the bucket: the client PUTs each part to a presigned URL,
the server verifies the joined bytes before the file completes (``PartSigner``).

Only the artifact's creator, on a pending file, may begin, sign, list, complete or abort
one (404 for anybody else, as everywhere); the upload token binds the upload to that
artifact, file and user (``part_tokens``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from satchel.errors import ConflictError, IntegrityError, ValidationError
from satchel.hashing import Digest
from satchel.models import Artifact, ArtifactFile, format_time, utcnow
from satchel.server import part_tokens
from satchel.server.part_tokens import PartsClaims
from satchel.server.schemas.artifacts import (
    MultipartOut,
    MultipartState,
    PartOut,
    PartsOut,
    PartUrl,
    UploadState,
)
from satchel.server.services.access import find_own_pending
from satchel.server.services.artifacts import file_of
from satchel.server.services.uploads import pending_file, published
from satchel.server.state import ServerState
from satchel.storage.base import PartSigner
from satchel.tenancy.base import Actor

__all__ = [
    "MAX_PART_SIZE",
    "UPLOAD_LIFETIME",
    "abort_parts",
    "complete_parts",
    "parts_state",
    "sign_parts",
    "start_parts",
]

#: How long an upload token stays good (the parts themselves until ``gc`` takes them).
UPLOAD_LIFETIME: Final = timedelta(days=7)
#: S3's largest part; with at most 10,000 parts a file of up to ~48 TiB fits.
MAX_PART_SIZE: Final = 5 << 30
_MAX_PARTS: Final = 10_000


def _signer(state: ServerState, artifact_id: str) -> PartSigner:
    blobs = state.store.blobs
    if not isinstance(blobs, PartSigner) or not blobs.signs_parts:
        raise ValidationError(
            "this store does not take multipart uploads by URL; PUT the bytes to "
            f"/api/v1/artifacts/{artifact_id}/uploads/<path> instead"
        )
    return blobs


def _pending(file: ArtifactFile, artifact_id: str) -> None:
    if file.status == "completed":
        raise ConflictError(f"the file {file.path!r} of artifact {artifact_id} is complete already")


def _part_size(asked: int | None, size: int, signer: PartSigner, default: int) -> int:
    """What the caller asked for (else the server's chunk size), within S3's limits."""
    wanted = max(asked or default, signer.min_part_size, -(-size // _MAX_PARTS))
    return min(wanted, MAX_PART_SIZE)


def _out(token: str, file: ArtifactFile, claims: PartsClaims) -> MultipartOut:
    return MultipartOut(
        upload=token,
        path=file.path,
        bytes=file.bytes,
        part_size=claims.part_size,
        parts=max(1, -(-file.bytes // claims.part_size)),
        expires_at=format_time(datetime.fromtimestamp(claims.expires, UTC)),
    )


def start_parts(
    state: ServerState, actor: Actor, artifact_id: str, path: str, part_size: int | None
) -> MultipartOut:
    """Begin a multipart upload of one pending file."""
    _, file = pending_file(state, actor, artifact_id, path)
    signer = _signer(state, artifact_id)
    _pending(file, artifact_id)
    if file.bytes == 0:
        raise ValidationError(f"the file {path!r} is empty: send it as content instead")
    size = _part_size(part_size, file.bytes, signer, state.store.settings.chunk_size)
    claims = PartsClaims(
        artifact_id=artifact_id,
        user_id=actor.user_id,
        path=file.path,
        upload=signer.start_parts(),
        part_size=size,
        expires=int((utcnow() + UPLOAD_LIFETIME).timestamp()),
    )
    return _out(part_tokens.issue(state.settings.secret, claims), file, claims)


def _open(
    state: ServerState, actor: Actor, artifact_id: str, token: str
) -> tuple[Artifact, ArtifactFile, PartsClaims, PartSigner]:
    artifact = find_own_pending(state, actor, artifact_id)
    signer = _signer(state, artifact_id)
    claims = part_tokens.verify(
        state.settings.secret, token, artifact_id=artifact_id, user_id=actor.user_id
    )
    return artifact, file_of(artifact, claims.path), claims, signer


def sign_parts(
    state: ServerState,
    actor: Actor,
    artifact_id: str,
    token: str,
    *,
    numbers: list[int],
    expires_in: int,
) -> PartsOut:
    """A presigned ``PUT`` URL for each part number asked for."""
    _, file, claims, signer = _open(state, actor, artifact_id, token)
    _pending(file, artifact_id)
    count = max(1, -(-file.bytes // claims.part_size))
    beyond = sorted({n for n in numbers if n > count})
    if beyond:
        raise ValidationError(f"the file has {count} parts; there is no part {beyond[0]}")
    expires = timedelta(seconds=expires_in)
    urls = [
        PartUrl(number=n, url=signer.presign_part(claims.upload, n, expires))
        for n in dict.fromkeys(numbers)
    ]
    return PartsOut(urls=urls, expires_at=format_time(utcnow() + expires))


def parts_state(state: ServerState, actor: Actor, artifact_id: str, token: str) -> MultipartState:
    """The parts the bucket holds so far: a resumed upload sends the others."""
    _, file, claims, signer = _open(state, actor, artifact_id, token)
    uploaded = [] if file.status == "completed" else signer.list_parts(claims.upload)
    return MultipartState(
        **_out(token, file, claims).model_dump(),
        status=file.status,
        uploaded=[PartOut(number=p.number, size=p.size, etag=p.etag) for p in uploaded],
    )


def complete_parts(state: ServerState, actor: Actor, artifact_id: str, token: str) -> UploadState:
    """Join the parts, verify them against the file's SHA-256, and complete the file."""
    _, file, claims, signer = _open(state, actor, artifact_id, token)
    _pending(file, artifact_id)
    try:
        signer.complete_parts(
            claims.upload,
            Digest(hexdigest=file.sha256),
            size=file.bytes,
            part_size=claims.part_size,
        )
    except IntegrityError as exc:
        raise ConflictError(
            f"the upload of {file.path!r} failed its check: {exc}; the file stays pending "
            "and this upload is gone: begin another"
        ) from exc
    return published(state, artifact_id, file)


def abort_parts(state: ServerState, actor: Actor, artifact_id: str, token: str) -> None:
    """Abort the upload: its parts are freed, the file stays as it is."""
    _, _, claims, signer = _open(state, actor, artifact_id, token)
    signer.abort_parts(claims.upload)
