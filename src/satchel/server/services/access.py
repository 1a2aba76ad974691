"""Finding an artifact for a caller: 404 unless they may read it, 403 to manage it."""

from __future__ import annotations

from satchel.access import may_manage, may_write_run
from satchel.errors import NotFoundError, PermissionDeniedError
from satchel.models import Artifact, Run
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor

__all__ = [
    "check_run_write",
    "find_managed",
    "find_own_pending",
    "find_readable",
    "find_visible_run",
]


def _missing(artifact_id: str) -> NotFoundError:
    return NotFoundError(f"no artifact with id {artifact_id!r}")


def find_readable(state: ServerState, actor: Actor, artifact_id: str) -> Artifact:
    """The artifact if ``actor`` may read it; a pending one only for its creator.

    Raises:
        NotFoundError: no such artifact, or none the caller may read (the same answer).
    """
    found = state.store.index.get(artifact_id, reader=actor.reader)
    if found is not None:
        return found
    pending = state.uploads.get_any(artifact_id)
    if pending is not None and pending.status != "completed" and pending.user_id == actor.user_id:
        return pending
    raise _missing(artifact_id)


def find_managed(state: ServerState, actor: Actor, artifact_id: str) -> Artifact:
    """The artifact if ``actor`` may share, pin or delete it.

    Raises:
        NotFoundError: the caller may not read it.
        PermissionDeniedError: the caller may read it but not manage it.
    """
    artifact = find_readable(state, actor, artifact_id)
    decision = may_manage(actor, artifact)
    if not decision:
        raise PermissionDeniedError(
            f"you may not manage artifact {artifact_id!r}: {decision.reason}"
        )
    return artifact


def find_own_pending(state: ServerState, actor: Actor, artifact_id: str) -> Artifact:
    """An artifact the caller created, to upload into (pending or not)."""
    artifact = find_readable(state, actor, artifact_id)
    if artifact.user_id != actor.user_id:
        if artifact.status == "completed":
            return artifact  # every file is complete: the upload route says so (409)
        raise _missing(artifact_id)
    check_run_write(actor, artifact.run_id)
    return artifact


def check_run_write(actor: Actor, run_id: str | None) -> None:
    """Refuse a job token writing outside its run."""
    if actor.run_id is None:
        return
    decision = may_write_run(actor, run_id or "")
    if not decision:
        raise PermissionDeniedError(decision.reason)


def find_visible_run(state: ServerState, actor: Actor, run_id: str) -> Run:
    """A run of the caller's org, or one they started.

    Raises:
        NotFoundError: no such run, or one the caller may not see (the same answer).
    """
    run = state.store.get_run(run_id)
    if run is None or (run.org_id != actor.org_id and run.user_id != actor.user_id):
        raise NotFoundError(f"no run with id {run_id!r}")
    return run
