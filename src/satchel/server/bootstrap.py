"""A server's first start: an organisation and its admin, with a password and a token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from satchel.errors import ConflictError
from satchel.tenancy.base import Directory, Org, User

__all__ = ["FirstLogin", "first_start"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstLogin:
    """What a first start created; ``password`` and ``token`` are shown this once."""

    org: Org
    user: User
    password: str
    token: str


def first_start(directory: Directory, *, email: str, org_name: str) -> FirstLogin | None:
    """Create the first org and its admin when the directory is empty; None otherwise.

    Two servers starting at once on one empty database: the second finds the org name
    taken and creates nothing.
    """
    if not directory.is_empty():
        return None
    try:
        org = directory.create_org(org_name)
    except ConflictError:
        return None
    password = secrets.token_urlsafe(15)
    user = directory.create_user(
        email=email,
        org_id=org.org_id,
        role="admin",
        display_name="Administrator",
        password=password,
    )
    _, token = directory.create_token(user.user_id, name="first start")
    return FirstLogin(org=org, user=user, password=password, token=token)
