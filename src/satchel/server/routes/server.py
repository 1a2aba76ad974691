"""The server's own routes: health and description."""

from __future__ import annotations

from fastapi import APIRouter

from satchel.server.deps import ActorDep, StateDep
from satchel.server.routes import ERRORS
from satchel.server.schemas.common import Health, Info
from satchel.storage.base import BlobSigner, PartSigner

__all__ = ["router"]

router = APIRouter(tags=["server"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """Whether the process answers (no credentials needed)."""
    return Health(status="ok")


@router.get("/info", response_model=Info, responses=ERRORS)
def info(state: StateDep, _: ActorDep) -> Info:
    """What a client needs to know: chunk size, limits, whether uploads can go to the bucket."""
    from satchel import __version__  # noqa: PLC0415

    settings = state.settings
    blobs = state.store.blobs
    return Info(
        version=__version__,
        chunk_size=state.store.settings.chunk_size,
        content_max=settings.content_max,
        body_max=settings.body_max,
        link_default_expiry=settings.link_default_expiry,
        link_max_expiry=settings.link_max_expiry,
        presigned_uploads=isinstance(blobs, BlobSigner),
        presigned_multipart=isinstance(blobs, PartSigner) and blobs.signs_parts,
    )
