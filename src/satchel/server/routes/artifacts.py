"""Artifacts: create (the first phase), read, list, search, pin, delete, lineage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from satchel.models import Occurrence, Run, format_time, utcnow
from satchel.server.deps import ActorDep, ArtifactIdPath, StateDep
from satchel.server.routes import ERRORS
from satchel.server.schemas.artifacts import (
    ArtifactCreate,
    ArtifactOut,
    BestIn,
    BestOut,
    ContentsIn,
    OccurrenceOut,
    Origin,
    PinIn,
    SearchIn,
    UseIn,
    artifact_page,
)
from satchel.server.schemas.common import Page
from satchel.server.services import search as searching
from satchel.server.services.access import check_run_write, find_managed, find_readable
from satchel.server.services.artifacts import add_contents, create_artifact, delete_artifact
from satchel.validation import validate_token

__all__ = ["router"]

router = APIRouter(tags=["artifacts"])

Filter = Annotated[str | None, Query(max_length=255)]


@router.post(
    "/artifacts",
    response_model=ArtifactOut,
    status_code=201,
    responses={**ERRORS, 200: {"model": ArtifactOut, "description": "The same request again"}},
)
def create(
    state: StateDep, actor: ActorDep, body: ArtifactCreate, response: Response
) -> ArtifactOut:
    """Record an artifact and its file list; files still to send are ``pending``."""
    created = create_artifact(state, actor, body)
    if not created.new:
        response.status_code = 200
    return ArtifactOut.of(created.artifact)


@router.get("/artifacts", response_model=Page[ArtifactOut], responses=ERRORS)
def list_artifacts(
    *,
    state: StateDep,
    actor: ActorDep,
    origin: Annotated[list[Origin] | None, Query()] = None,
    kind: Filter = None,
    run_id: Filter = None,
    session_id: Filter = None,
    user_id: Filter = None,
    org_id: Filter = None,
    graph_id: Filter = None,
    node_id: Filter = None,
    tag: Annotated[list[str] | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Page[ArtifactOut]:
    """What the caller may read, newest first; ``origin`` mine/org/shared combine."""
    given = {
        "kind": kind,
        "run_id": run_id,
        "session_id": session_id,
        "user_id": user_id,
        "org_id": org_id,
        "graph_id": graph_id,
        "node_id": node_id,
    }
    equals: dict[str, str | None] = {k: v for k, v in given.items() if v is not None}
    page = searching.listing(
        state,
        actor,
        equals=equals,
        tags=tag or [],
        origin=origin or [],
        limit=limit,
        cursor=cursor,
    )
    return artifact_page(page)


@router.post("/search", response_model=Page[ArtifactOut], responses={**ERRORS, **{501: {}}})
def search(state: StateDep, actor: ActorDep, body: SearchIn) -> Page[ArtifactOut]:
    """The facade's ``search_page``: structured, lexical, semantic or hybrid."""
    return artifact_page(searching.search(state, actor, body))


@router.post("/best", response_model=BestOut, responses=ERRORS)
def best(state: StateDep, actor: ActorDep, body: BestIn) -> BestOut:
    """The facade's ``best``: the artifact of a kind with the highest (lowest) metric."""
    found = searching.best(state, actor, body).items
    return BestOut(artifact=ArtifactOut.of(found[0]) if found else None)


@router.get("/artifacts/{artifact_id}", response_model=ArtifactOut, responses=ERRORS)
def get(state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath) -> ArtifactOut:
    """One artifact (a pending one only for its creator)."""
    return ArtifactOut.of(find_readable(state, actor, artifact_id))


@router.post("/artifacts/{artifact_id}/contents", response_model=ArtifactOut, responses=ERRORS)
def contents(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: ContentsIn
) -> ArtifactOut:
    """Complete several small pending files at once from their inline content."""
    return ArtifactOut.of(add_contents(state, actor, artifact_id, body.files))


@router.post("/artifacts/{artifact_id}/pin", response_model=ArtifactOut, responses=ERRORS)
def pin(state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: PinIn) -> ArtifactOut:
    """Pin or unpin (creator or org admin)."""
    find_managed(state, actor, artifact_id)
    state.store.index.set_pinned(artifact_id, body.pinned, updated_at=format_time(utcnow()))
    return ArtifactOut.of(find_readable(state, actor, artifact_id))


@router.delete(
    "/artifacts/{artifact_id}", status_code=204, response_class=Response, responses=ERRORS
)
def delete(state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath) -> Response:
    """Delete an artifact with its files, grants and unreferenced blobs (409 while its run
    is running)."""
    delete_artifact(state, actor, artifact_id)
    return Response(status_code=204)


@router.get(
    "/artifacts/{artifact_id}/lineage", response_model=Page[OccurrenceOut], responses=ERRORS
)
def lineage(state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath) -> Page[OccurrenceOut]:
    """Which runs produced and used the artifact, oldest first."""
    find_readable(state, actor, artifact_id)
    found = state.store.index.occurrences(artifact_id, reader=actor.reader)
    return Page[OccurrenceOut](items=[OccurrenceOut.of(o) for o in found])


@router.post(
    "/artifacts/{artifact_id}/uses",
    response_model=OccurrenceOut,
    status_code=201,
    responses=ERRORS,
)
def use(
    state: StateDep, actor: ActorDep, artifact_id: ArtifactIdPath, body: UseIn
) -> OccurrenceOut:
    """Record that a run (and node) used the artifact (a job token: its own run)."""
    artifact = find_readable(state, actor, artifact_id)
    run_id = body.run_id if body.run_id is not None else actor.run_id
    for value, what in ((run_id, "run_id"), (body.node_id, "node_id")):
        if value is not None:
            validate_token(value, what=what)
    check_run_write(actor, run_id)
    if run_id is not None:
        # A run new to the index is the caller's, as when an artifact is saved into it: the
        # lineage shows a use to those who may see its run.
        state.store.index.ensure_run(
            Run(
                run_id=run_id,
                org_id=actor.org_id,
                user_id=actor.user_id,
                status="running",
                started_at=utcnow(),
            )
        )
    item = Occurrence(
        artifact_id=artifact.artifact_id,
        run_id=run_id,
        node_id=body.node_id,
        event="used",
        at=utcnow(),
    )
    state.store.add_occurrences([item])
    return OccurrenceOut.of(item)
