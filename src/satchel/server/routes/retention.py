"""Retention policies of the caller's org: list, create and delete (org admins), and the
dry run of one policy (what it alone would remove now; any member of the org)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from satchel.errors import NotFoundError, PermissionDeniedError
from satchel.models import format_time, utcnow
from satchel.retention import RetentionPolicy, policies_of, preview
from satchel.server.deps import ActorDep, IdPath, StateDep
from satchel.server.routes import ERRORS
from satchel.server.schemas.common import Page
from satchel.server.schemas.retention import ExpiryOut, PreviewOut, RetentionIn, RetentionOut
from satchel.server.services.access import find_visible_run
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor

__all__ = ["router"]

router = APIRouter(tags=["retention"])


def _require_admin(actor: Actor) -> None:
    if actor.role != "admin" or actor.run_id is not None:
        raise PermissionDeniedError("only an admin of the org manages retention policies")


def _org_policy(state: ServerState, actor: Actor, policy_id: str) -> RetentionPolicy:
    """A policy of the caller's org; another org's (or a store-wide one) is not found."""
    policy = policies_of(state.store.index).get_policy(policy_id)
    if policy is None or policy.org_id != actor.org_id:
        raise NotFoundError(f"no retention policy with id {policy_id!r}")
    return policy


@router.get("/retention", response_model=Page[RetentionOut], responses=ERRORS)
def list_policies(state: StateDep, actor: ActorDep) -> Page[RetentionOut]:
    """The retention policies of the caller's org, oldest first."""
    found = policies_of(state.store.index).list_policies(org_id=actor.org_id)
    return Page[RetentionOut](items=[RetentionOut.of(p) for p in found])


@router.post("/retention", response_model=RetentionOut, status_code=201, responses=ERRORS)
def create_policy(state: StateDep, actor: ActorDep, body: RetentionIn) -> RetentionOut:
    """A new retention policy of the caller's org (org admins); ``run_id`` names a run the
    caller can see."""
    _require_admin(actor)
    policy = RetentionPolicy(org_id=actor.org_id, created_by=actor.user_id, **body.model_dump())
    if policy.run_id is not None:
        find_visible_run(state, actor, policy.run_id)
    policies_of(state.store.index).add_policy(policy)
    return RetentionOut.of(policy)


@router.delete("/retention/{policy_id}", status_code=204, response_class=Response, responses=ERRORS)
def delete_policy(state: StateDep, actor: ActorDep, policy_id: IdPath) -> Response:
    """Remove a retention policy of the caller's org (org admins)."""
    _org_policy(state, actor, policy_id)
    _require_admin(actor)
    policies_of(state.store.index).delete_policy(policy_id)
    return Response(status_code=204)


@router.get("/retention/{policy_id}/preview", response_model=PreviewOut, responses=ERRORS)
def preview_policy(
    state: StateDep,
    actor: ActorDep,
    policy_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> PreviewOut:
    """The dry run: what this policy alone would remove now, oldest first, with reasons
    (``count`` is all of them, ``items`` the first ``limit``). Nothing is removed."""
    policy = _org_policy(state, actor, policy_id)
    now = utcnow()
    found = preview(state.store.index, policy_id, now=now, org_id=actor.org_id)
    return PreviewOut(
        policy=RetentionOut.of(policy),
        as_of=format_time(now),
        count=len(found),
        items=[ExpiryOut.of(e) for e in found[:limit]],
    )
