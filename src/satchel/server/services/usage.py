"""The usage figures a caller may see: their org's, with the rows ``may_see_usage`` allows."""

from __future__ import annotations

from dataclasses import replace

from satchel.access import may_see_usage
from satchel.errors import IndexBackendError
from satchel.index.base import UsageFigures
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor
from satchel.usage import UsageReport, with_people

__all__ = ["usage_for"]


def usage_for(state: ServerState, actor: Actor) -> UsageReport:
    """The figures of ``actor``'s org: its totals, and every user's row the actor may see
    (an admin: every user of the org, those without artifacts as zeros; a member: their
    own). Never another org's, nor the store's total."""
    index = state.store.index
    if not isinstance(index, UsageFigures):
        raise IndexBackendError(f"the index at {index.url} keeps no usage figures")
    report = index.usage(org_id=actor.org_id)
    users = state.tenancy.list_users(actor.org_id)
    org = state.tenancy.get_org(actor.org_id)
    report = with_people(
        report,
        emails={u.user_id: u.email for u in users},
        org_names={} if org is None else {org.org_id: org.name},
        members={actor.org_id: [u.user_id for u in users]},
    )
    return UsageReport(
        orgs=tuple(
            replace(o, users=tuple(u for u in o.users if may_see_usage(actor, o.org_id, u.user_id)))
            for o in report.orgs
            if o.org_id == actor.org_id
        )
    )
