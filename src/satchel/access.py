"""Who may do what: the access model of DESIGN.md as pure functions, default deny.

* **read** an artifact: its creator, any user of its org, or a user whom a grant names (by
  email, any case, or by org).
* **manage** it (share, pin, delete): its creator, or an admin of its org.
* **write** into a run: any user, except that a job token (``Actor.run_id``) writes into its
  own run only; a job token also manages only artifacts of its run.
* **usage figures** (``satchel.usage``): any user sees their org's totals and their own
  row; an admin of the org (not through a job token) sees every user's; nobody sees another
  org's.

Listing and search never call these row by row: the same read rule is said in SQL
(``satchel.index.query.readable``) inside every query. These functions decide about one
artifact already in hand (a route's pin, delete or share), and every decision carries its
reason, for logs and tests. A caller that may not read an artifact must be told it does
not exist (404, ``NotFoundError``), never that it is forbidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from satchel.models import Artifact
from satchel.tenancy.base import Actor, Grant

__all__ = ["Decision", "may_manage", "may_read", "may_see_usage", "may_write_run"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed or not, and why; true when allowed."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def may_read(actor: Actor, artifact: Artifact, grants: Sequence[Grant]) -> Decision:
    """Whether ``actor`` may read ``artifact``, given the artifact's ``grants``."""
    if artifact.user_id is not None and artifact.user_id == actor.user_id:
        return Decision(True, "created it")
    if artifact.org_id is not None and artifact.org_id == actor.org_id:
        return Decision(True, "of the actor's org")
    email = actor.email.lower()
    for grant in grants:
        if grant.artifact_id != artifact.artifact_id:
            continue
        if grant.recipient_email is not None and grant.recipient_email.lower() == email:
            return Decision(True, f"grant {grant.grant_id} to the actor's email")
        if grant.recipient_org_id is not None and grant.recipient_org_id == actor.org_id:
            return Decision(True, f"grant {grant.grant_id} to the actor's org")
    return Decision(False, "neither creator, same org, nor grantee")


def may_manage(actor: Actor, artifact: Artifact) -> Decision:
    """Whether ``actor`` may share, pin or delete ``artifact``."""
    if actor.run_id is not None and artifact.run_id != actor.run_id:
        return Decision(False, "a job token manages only the artifacts of its run")
    if artifact.user_id is not None and artifact.user_id == actor.user_id:
        return Decision(True, "created it")
    if actor.role == "admin" and artifact.org_id is not None and artifact.org_id == actor.org_id:
        return Decision(True, "admin of its org")
    return Decision(False, "neither creator nor an admin of its org")


def may_write_run(actor: Actor, run_id: str) -> Decision:
    """Whether ``actor`` may save artifacts into (or update) run ``run_id``."""
    if actor.run_id is None:
        return Decision(True, "a user token")
    if actor.run_id == run_id:
        return Decision(True, "the job token's own run")
    return Decision(False, f"a job token for run {actor.run_id!r} writes into that run only")


def may_see_usage(actor: Actor, org_id: str | None, user_id: str | None) -> Decision:
    """Whether ``actor`` may see the usage figures of ``user_id`` within ``org_id``."""
    if org_id is None or org_id != actor.org_id:
        return Decision(False, "another org's figures")
    if user_id is not None and user_id == actor.user_id:
        return Decision(True, "the actor's own figures")
    if actor.role == "admin" and actor.run_id is None:
        return Decision(True, "admin of the org")
    return Decision(False, "a member sees only their own row of the org")
