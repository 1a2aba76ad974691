"""Sharing: grants to an email or an org, and signed links that need no credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from satchel.errors import ConflictError, NotFoundError
from satchel.hashing import Digest
from satchel.models import ArtifactFile, format_time
from satchel.server.deps import ActorDep, ArtifactIdPath, IdPath, StateDep
from satchel.server.downloads import download_headers, stream_file
from satchel.server.routes import ERRORS, errors
from satchel.server.routes.files import DOWNLOADED
from satchel.server.schemas.artifacts import GrantIn, GrantOut, LinkIn, LinkOut
from satchel.server.schemas.common import Page
from satchel.server.services.access import find_managed, find_readable
from satchel.server.services.artifacts import file_of
from satchel.server.services.links import base_url, make_link
from satchel.server.signing import LinkClaims, verify
from satchel.server.state import ServerState
from satchel.storage.base import BlobSigner
from satchel.store import INLINE_LOOKUP_MAX
from satchel.tenancy.base import Actor

__all__ = ["PRESIGNED_FOR", "router"]

router = APIRouter(tags=["sharing"])

#: How long the bucket URL a link redirects to lives (S3 stores).
PRESIGNED_FOR: Final = timedelta(minutes=5)


@router.post(
    "/artifacts/{artifact_id}/grants", response_model=GrantOut, status_code=201, responses=ERRORS
)
def add_grant(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: GrantIn
) -> GrantOut:
    """Let one email or one org read the artifact; a duplicate is 409."""
    find_managed(state, actor, artifact_id)
    grant = state.tenancy.add_grant(
        artifact_id, email=body.email, org_id=body.org_id, granted_by=actor.user_id
    )
    return GrantOut.of(grant)


@router.get("/artifacts/{artifact_id}/grants", response_model=Page[GrantOut], responses=ERRORS)
def list_grants(state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath) -> Page[GrantOut]:
    """The artifact's grants, oldest first."""
    find_managed(state, actor, artifact_id)
    return Page[GrantOut](items=[GrantOut.of(g) for g in state.tenancy.list_grants(artifact_id)])


@router.delete(
    "/artifacts/{artifact_id}/grants/{grant_id}",
    status_code=204,
    response_class=Response,
    responses=ERRORS,
)
def revoke_grant(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, grant_id: IdPath
) -> Response:
    """Revoke a grant: from the next request on, links made by the grantee included."""
    find_managed(state, actor, artifact_id)
    grant = state.tenancy.get_grant(grant_id)
    if grant is None or grant.artifact_id != artifact_id:
        raise NotFoundError(f"no grant with id {grant_id!r} on artifact {artifact_id}")
    state.tenancy.revoke_grant(grant_id)
    return Response(status_code=204)


@router.post(
    "/artifacts/{artifact_id}/links", response_model=LinkOut, status_code=201, responses=ERRORS
)
def create_link(
    request: Request, state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: LinkIn
) -> LinkOut:
    """A link to one file that works without credentials until it expires."""
    artifact = find_readable(state, actor, artifact_id)
    link = make_link(
        state, actor, artifact, body.path, expires_in=body.expires_in, base_url=base_url(request)
    )
    return LinkOut(
        url=link.url,
        path=link.path,
        expires_at=format_time(datetime.fromtimestamp(link.expires, UTC)),
    )


def _maker(state: ServerState, artifact_id: str, user_id: str) -> Actor:
    """The link's maker as an actor, to check again that they may still read."""
    user = state.tenancy.get_user(user_id)
    if user is None:
        raise NotFoundError(f"no artifact with id {artifact_id!r}")
    return Actor(user_id=user.user_id, org_id=user.org_id, email=user.email, role=user.role)


@router.get(
    "/links/{artifact_id}/{path:path}",
    response_class=Response,
    responses={
        **DOWNLOADED,
        307: {"description": "To a short-lived URL of the bucket (S3 stores)"},
        **errors(403, 404, 409, 416, 422),
    },
)
async def follow_link(
    *,
    state: StateDep,
    artifact_id: ArtifactIdPath,
    path: Annotated[str, Path(min_length=1, max_length=4096)],
    u: Annotated[str, Query(max_length=64, description="the link's maker")],
    e: Annotated[int, Query(ge=0, le=1 << 40, description="expiry, Unix seconds")],
    s: Annotated[str, Query(max_length=128, description="the signature")],
    range_: Annotated[str | None, Header(alias="Range", max_length=256)] = None,
) -> Response:
    """Download through a signed link: no credentials, until it expires."""
    claims = LinkClaims(artifact_id=artifact_id, path=path, user_id=u, expires=e)
    verify(state.settings.secret, claims, s)

    def check() -> ArtifactFile:
        actor = _maker(state, artifact_id, u)
        # What others see: completed artifacts only, even when the maker is the creator.
        artifact = state.store.index.get(artifact_id, reader=actor.reader)
        if artifact is None:
            raise NotFoundError(f"no artifact with id {artifact_id!r}")
        return file_of(artifact, path)

    file = await anyio.to_thread.run_sync(check)
    if file.status != "completed":
        raise ConflictError(f"the file {path!r} is still pending")
    blobs = state.store.blobs
    if isinstance(blobs, BlobSigner):
        inline = None
        if file.bytes <= INLINE_LOOKUP_MAX:
            inline = await anyio.to_thread.run_sync(state.store.index.inline_blob, file.sha256)
        if inline is None:
            headers = download_headers(file)

            def signed() -> str:
                return blobs.presign_get(
                    Digest(hexdigest=file.sha256),
                    PRESIGNED_FOR,
                    disposition=headers["Content-Disposition"],
                    # Never the file's own type: the bucket cannot add a sandboxing CSP.
                    content_type="application/octet-stream",
                )

            url = await anyio.to_thread.run_sync(signed)
            # The bucket serves what it holds, unchecked: the digest goes with the
            # redirect so that whoever follows it can check the bytes.
            return RedirectResponse(
                url,
                status_code=307,
                headers={"Cache-Control": "no-store", "X-Satchel-SHA256": file.sha256},
            )
    return await stream_file(state.store, artifact_id, file, range_)
