"""Usage figures: the caller's org's artifacts, bytes, deduplicated bytes and pins."""

from __future__ import annotations

from fastapi import APIRouter

from satchel.server.deps import ActorDep, StateDep
from satchel.server.routes import ERRORS
from satchel.server.schemas.usage import UsageReportOut
from satchel.server.services.usage import usage_for

__all__ = ["router"]

router = APIRouter(tags=["usage"])


@router.get("/usage", response_model=UsageReportOut, responses=ERRORS)
def usage(state: StateDep, actor: ActorDep) -> UsageReportOut:
    """The caller's org's usage figures: its totals, and every user's row for an org
    admin, the caller's own row for a member (docs/api.md)."""
    return UsageReportOut.model_validate(usage_for(state, actor).to_dict())
