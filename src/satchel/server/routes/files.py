"""A file's bytes: uploads in chunks (or straight to the bucket), and downloads."""

from __future__ import annotations

from typing import Annotated, Any, Final

import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request, Response

from satchel.errors import ConflictError
from satchel.server.deps import ActorDep, ArtifactIdPath, StateDep
from satchel.server.downloads import stream_file
from satchel.server.routes import ERRORS, errors
from satchel.server.schemas.artifacts import AdoptIn, PresignIn, PresignOut, UploadState
from satchel.server.services.access import find_readable
from satchel.server.services.artifacts import file_of
from satchel.server.services.uploads import adopt, presign, upload_chunk, upload_state

__all__ = ["BINARY", "DOWNLOADED", "FILE_BYTES", "router"]

router = APIRouter(tags=["files"])

FilePathParam = Annotated[str, Path(min_length=1, max_length=4096)]

#: The OpenAPI description of a request body of raw bytes.
BINARY: Final[dict[str, Any]] = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
}
#: A file's bytes as a download answers them: with the file's own MIME type.
FILE_BYTES: Final[dict[str, Any]] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
#: The successful answers of a download (the API's and a signed link's).
DOWNLOADED: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": FILE_BYTES, "description": "The file's bytes"},
    206: {"content": FILE_BYTES, "description": "The bytes of the range asked for"},
}


@router.get(
    "/artifacts/{artifact_id}/uploads/{path:path}", response_model=UploadState, responses=ERRORS
)
def get_upload(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, path: FilePathParam
) -> UploadState:
    """How many bytes of a pending file arrived: resume from ``received``."""
    return upload_state(state, actor, artifact_id, path)


@router.put(
    "/artifacts/{artifact_id}/uploads/{path:path}",
    response_model=UploadState,
    responses={**ERRORS, **errors(503, 507)},
    openapi_extra={"requestBody": {"content": BINARY, "required": True}},
)
async def put_upload(
    *,
    request: Request,
    state: StateDep,
    actor: ActorDep,
    artifact_id: ArtifactIdPath,
    path: FilePathParam,
    offset: Annotated[int, Query(ge=0, le=1 << 50)] = 0,
) -> UploadState:
    """One chunk of a file's bytes from ``offset``; the last one verifies the file."""
    return await upload_chunk(state, actor, artifact_id, path, offset=offset, body=request.stream())


@router.post(
    "/artifacts/{artifact_id}/presign",
    response_model=PresignOut,
    status_code=201,
    responses=ERRORS,
)
def post_presign(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: PresignIn
) -> PresignOut:
    """A URL to PUT a pending file straight into the bucket (S3 stores)."""
    return presign(state, actor, artifact_id, body.path, body.expires_in)


@router.post("/artifacts/{artifact_id}/adopt", response_model=UploadState, responses=ERRORS)
def post_adopt(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: AdoptIn
) -> UploadState:
    """Verify and take the bytes PUT to a presigned URL; completes the file."""
    return adopt(state, actor, artifact_id, body.path, body.token)


@router.get(
    "/artifacts/{artifact_id}/files/{path:path}",
    response_class=Response,
    responses={**DOWNLOADED, **ERRORS, **errors(416)},
)
async def download(
    state: StateDep,
    actor: ActorDep,
    artifact_id: ArtifactIdPath,
    path: FilePathParam,
    range_: Annotated[str | None, Header(alias="Range", max_length=256)] = None,
) -> Response:
    """A completed file's bytes, verified as they stream; Range requests answer 206."""
    artifact = await anyio.to_thread.run_sync(find_readable, state, actor, artifact_id)
    file = file_of(artifact, path)
    if file.status != "completed":
        raise ConflictError(f"the file {path!r} is still pending: its upload is not complete")
    return await stream_file(state.store, artifact_id, file, range_)
