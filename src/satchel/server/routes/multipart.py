"""Multipart uploads by presigned part URLs (S3 stores): begin, sign, list, complete, abort."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from satchel.server.deps import ActorDep, ArtifactIdPath, StateDep
from satchel.server.routes import ERRORS
from satchel.server.schemas.artifacts import (
    MultipartIn,
    MultipartOut,
    MultipartState,
    PartsIn,
    PartsOut,
    UploadState,
)
from satchel.server.services.multipart import (
    abort_parts,
    complete_parts,
    parts_state,
    sign_parts,
    start_parts,
)

__all__ = ["router"]

router = APIRouter(tags=["files"])

#: An upload token (``part_tokens``): base64url of its claims, a dot, the signature.
UploadPath = Annotated[str, Path(min_length=1, max_length=32_768, pattern=r"^[A-Za-z0-9_.-]+$")]
_BASE = "/artifacts/{artifact_id}/multipart"


@router.post(_BASE, response_model=MultipartOut, status_code=201, responses=ERRORS)
def post_multipart(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: MultipartIn
) -> MultipartOut:
    """Begin a multipart upload of a pending file straight into the bucket (S3 stores)."""
    return start_parts(state, actor, artifact_id, body.path, body.part_size)


@router.post(_BASE + "/{upload}/parts", response_model=PartsOut, responses=ERRORS)
def post_parts(
    state: StateDep,
    actor: ActorDep,
    artifact_id: ArtifactIdPath,
    upload: UploadPath,
    body: PartsIn,
) -> PartsOut:
    """Presigned ``PUT`` URLs for some of the upload's parts."""
    return sign_parts(
        state, actor, artifact_id, upload, numbers=body.numbers, expires_in=body.expires_in
    )


@router.get(_BASE + "/{upload}", response_model=MultipartState, responses=ERRORS)
def get_multipart(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, upload: UploadPath
) -> MultipartState:
    """The parts uploaded so far: resume by sending the others."""
    return parts_state(state, actor, artifact_id, upload)


@router.post(_BASE + "/{upload}/complete", response_model=UploadState, responses=ERRORS)
def post_complete(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, upload: UploadPath
) -> UploadState:
    """Join the parts, verify the file's SHA-256 and complete it."""
    return complete_parts(state, actor, artifact_id, upload)


@router.delete(_BASE + "/{upload}", status_code=204, response_class=Response, responses=ERRORS)
def delete_multipart(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, upload: UploadPath
) -> Response:
    """Abort the upload and free its parts; the file stays pending."""
    abort_parts(state, actor, artifact_id, upload)
    return Response(status_code=204)
