"""Signed links: made for a reader who may read the artifact, for one completed file."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request

from satchel.errors import ConflictError, ValidationError
from satchel.models import Artifact, ArtifactFile
from satchel.server.services.artifacts import file_of
from satchel.server.signing import LinkClaims, link_path, sign
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor

__all__ = ["Link", "base_url", "make_link", "sign_link"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A signed link to one file, and when it expires (Unix seconds)."""

    url: str
    path: str
    expires: int


def base_url(request: Request) -> str:
    """The base URL links are made with: the configured public URL, else the request's."""
    state: ServerState = request.app.state.satchel
    return state.settings.public_url or str(request.base_url).rstrip("/")


def make_link(
    state: ServerState,
    actor: Actor,
    artifact: Artifact,
    path: str | None,
    *,
    expires_in: int | None,
    base_url: str,
) -> Link:
    """A link to ``artifact``'s file at ``path``, which ``actor`` has been found to read.

    Raises:
        ValidationError: ``expires_in`` is over the server's longest link lifetime.
        ConflictError: the artifact or the file is still pending.
        NotFoundError: the artifact has no such file.
    """
    settings = state.settings
    lifetime = expires_in or settings.link_default_expiry
    if lifetime > settings.link_max_expiry:
        raise ValidationError(
            f"a link lives at most {settings.link_max_expiry} s, not {lifetime} s"
        )
    if artifact.status != "completed":
        # A link is for others, who see an artifact only once every file is complete.
        raise ConflictError(
            f"artifact {artifact.artifact_id} is still pending: link to it once its upload "
            "is complete"
        )
    file = file_of(artifact, path)
    if file.status != "completed":
        raise ConflictError(f"the file {file.path!r} is still pending: its upload is not complete")
    return sign_link(state, actor, artifact.artifact_id, file, lifetime=lifetime, base_url=base_url)


def sign_link(
    state: ServerState,
    actor: Actor,
    artifact_id: str,
    file: ArtifactFile,
    *,
    lifetime: int,
    base_url: str,
) -> Link:
    """The link to a completed file of a completed artifact, already checked by the caller
    (``make_link`` checks; a page signing many files of one artifact checks once)."""
    claims = LinkClaims(
        artifact_id=artifact_id,
        path=file.path,
        user_id=actor.user_id,
        expires=int(time.time()) + lifetime,
    )
    url = base_url + link_path(claims, sign(state.settings.secret, claims))
    return Link(url=url, path=file.path, expires=claims.expires)
