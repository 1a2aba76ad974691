"""Runs: create, list, read, update status, list artifacts, delete (with its artifacts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from satchel.errors import ConflictError, PermissionDeniedError
from satchel.index.base import ArtifactQuery, RunQuery
from satchel.models import Run, format_time, new_id, utcnow
from satchel.server.deps import ActorDep, RunIdPath, StateDep
from satchel.server.routes import ERRORS
from satchel.server.schemas.artifacts import ArtifactOut, artifact_page
from satchel.server.schemas.common import Page
from satchel.server.schemas.identity import RunIn, RunOut, RunPatch, RunStatus
from satchel.server.services import search as searching
from satchel.server.services.access import check_run_write, find_visible_run
from satchel.server.services.cursors import run_cursor, run_position
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor
from satchel.validation import validate_token

__all__ = ["router"]

router = APIRouter(tags=["runs"])


_visible_run = find_visible_run


def _managed_run(state: ServerState, actor: Actor, run_id: str, *, job_may: bool) -> Run:
    run = _visible_run(state, actor, run_id)
    if actor.run_id is not None:
        if job_may and actor.run_id == run_id:
            return run
        raise PermissionDeniedError(f"a job token for run {actor.run_id!r} cannot do this")
    if run.user_id == actor.user_id or (actor.role == "admin" and run.org_id == actor.org_id):
        return run
    raise PermissionDeniedError(f"only its creator or an org admin manages run {run_id!r}")


@router.post(
    "/runs",
    response_model=RunOut,
    status_code=201,
    responses={**ERRORS, 200: {"model": RunOut, "description": "The caller's run already"}},
)
def create_run(state: StateDep, actor: ActorDep, body: RunIn, response: Response) -> RunOut:
    """Start a run (``running``), owned by the caller; a run id taken by another is 409."""
    run_id = body.run_id or actor.run_id or new_id()
    for value, what in ((run_id, "run_id"), (body.session_id, "session_id"), (body.name, "name")):
        if value is not None:
            validate_token(value, what=what)
    if body.parent_run_id is not None:
        _visible_run(state, actor, validate_token(body.parent_run_id, what="parent_run_id"))
    check_run_write(actor, run_id)
    existing = state.store.get_run(run_id)
    if existing is not None:
        if existing.user_id != actor.user_id:
            raise ConflictError(f"the run id {run_id!r} is taken")
        response.status_code = 200
        return RunOut.of(existing)
    state.store.index.ensure_run(
        Run(
            run_id=run_id,
            name=body.name,
            parent_run_id=body.parent_run_id,
            org_id=actor.org_id,
            user_id=actor.user_id,
            session_id=body.session_id,
            status="running",
            started_at=utcnow(),
        )
    )
    return RunOut.of(_visible_run(state, actor, run_id))


@router.get("/runs", response_model=Page[RunOut], responses=ERRORS)
def list_runs(
    *,
    state: StateDep,
    actor: ActorDep,
    status: RunStatus | None = None,
    parent_run_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Page[RunOut]:
    """The runs of the caller's org, newest started first (``parent_run_id``: the
    experiments of one run)."""
    equals: dict[str, str | None] = {} if status is None else {"status": status}
    if parent_run_id is not None:
        equals["parent_run_id"] = validate_token(parent_run_id, what="parent_run_id")
    query = RunQuery(
        equals=equals,
        limit=limit + 1,
        after=None if cursor is None else run_position(cursor),
        reader=actor.reader,
    )
    runs = state.store.index.list_runs(query)
    more = len(runs) > limit
    runs = runs[:limit]
    return Page[RunOut](
        items=[RunOut.of(r) for r in runs],
        next_cursor=run_cursor(runs[-1]) if more and runs else None,
    )


@router.get("/runs/{run_id}", response_model=RunOut, responses=ERRORS)
def get_run(state: StateDep, actor: ActorDep, run_id: RunIdPath) -> RunOut:
    """One run of the caller's org."""
    return RunOut.of(_visible_run(state, actor, run_id))


@router.patch("/runs/{run_id}", response_model=RunOut, responses=ERRORS)
def update_run(state: StateDep, actor: ActorDep, run_id: RunIdPath, body: RunPatch) -> RunOut:
    """Set a run's status; leaving ``running`` records its end."""
    _managed_run(state, actor, run_id, job_may=True)
    ended = None if body.status == "running" else format_time(utcnow())
    state.store.set_run_status(run_id, body.status, ended_at=ended)
    return RunOut.of(_visible_run(state, actor, run_id))


@router.get("/runs/{run_id}/artifacts", response_model=Page[ArtifactOut], responses=ERRORS)
def run_artifacts(
    state: StateDep,
    actor: ActorDep,
    run_id: RunIdPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Page[ArtifactOut]:
    """The run's artifacts the caller may read, newest first."""
    _visible_run(state, actor, run_id)
    page = searching.listing(
        state, actor, equals={"run_id": run_id}, tags=[], origin=[], limit=limit, cursor=cursor
    )
    return artifact_page(page)


@router.delete("/runs/{run_id}", status_code=204, response_class=Response, responses=ERRORS)
def delete_run(state: StateDep, actor: ActorDep, run_id: RunIdPath) -> Response:
    """Delete a run, its experiments and all their artifacts (409 while running)."""
    run = _managed_run(state, actor, run_id, job_may=False)
    # Run ids are global: another organisation may have saved into this one. Its artifacts
    # are not this caller's to delete, so the run stays (its own artifacts can go one by one).
    held = state.store.query(
        ArtifactQuery(equals={"run_id": run_id}, include_pending=True, limit=None)
    )
    if any(a.org_id != run.org_id for a in held):
        raise ConflictError(
            f"run {run_id!r} holds artifacts of another organisation; delete yours one by one"
        )
    state.store.delete_run(run_id)
    return Response(status_code=204)
