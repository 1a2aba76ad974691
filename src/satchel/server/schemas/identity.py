"""Logins, users, orgs and tokens; runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from satchel.models import Run, format_time
from satchel.server.schemas.common import Strict
from satchel.tenancy.base import Actor, Org, Token, User

__all__ = [
    "LoginIn",
    "LoginOut",
    "MeOut",
    "OrgOut",
    "RunIn",
    "RunOut",
    "RunPatch",
    "TokenCreate",
    "TokenCreated",
    "TokenOut",
    "UserCreate",
    "UserOut",
]

Short = Annotated[str, Field(max_length=255)]
IdText = Annotated[str, Field(min_length=1, max_length=64)]
Role = Literal["member", "admin"]
RunStatus = Literal["running", "done", "crashed", "failed"]


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


class LoginIn(Strict):
    email: Short
    password: Annotated[str, Field(max_length=1024)]


class UserOut(BaseModel):
    user_id: str
    org_id: str
    email: str
    role: Role
    display_name: str | None
    created_at: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.user_id,
            org_id=user.org_id,
            email=user.email,
            role=user.role,
            display_name=user.display_name,
            created_at=format_time(user.created_at),
        )


class MeOut(BaseModel):
    """The caller: its user, and the run a job token writes into."""

    user_id: str
    org_id: str
    email: str
    role: Role
    display_name: str | None
    run_id: str | None

    @classmethod
    def of(cls, actor: Actor, user: User | None) -> MeOut:
        return cls(
            user_id=actor.user_id,
            org_id=actor.org_id,
            email=actor.email,
            role=actor.role,
            display_name=None if user is None else user.display_name,
            run_id=actor.run_id,
        )


class OrgOut(BaseModel):
    org_id: str
    name: str
    created_at: str

    @classmethod
    def of(cls, org: Org) -> OrgOut:
        return cls(org_id=org.org_id, name=org.name, created_at=format_time(org.created_at))


class UserCreate(Strict):
    email: Short
    password: Annotated[str, Field(max_length=1024)] | None = None
    role: Role = "member"
    display_name: Short | None = None


class TokenOut(BaseModel):
    token_id: str
    user_id: str
    name: str
    run_id: str | None
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, token: Token) -> TokenOut:
        return cls(
            token_id=token.token_id,
            user_id=token.user_id,
            name=token.name,
            run_id=token.run_id,
            created_at=format_time(token.created_at),
            expires_at=_time(token.expires_at),
            last_used_at=_time(token.last_used_at),
            revoked_at=_time(token.revoked_at),
        )


class TokenCreated(TokenOut):
    """A new token: ``token`` is its secret, shown this once."""

    token: str


class TokenCreate(Strict):
    name: Short = "api"
    expires_in: int | None = Field(default=None, ge=60, le=10 * 365 * 86400)
    user_id: IdText | None = None
    run_id: IdText | None = None


class LoginOut(BaseModel):
    token: str
    token_id: str
    expires_at: str | None
    user: MeOut


class RunOut(BaseModel):
    run_id: str
    name: str | None
    parent_run_id: str | None
    org_id: str | None
    user_id: str | None
    session_id: str | None
    status: RunStatus
    started_at: str | None
    ended_at: str | None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            run_id=run.run_id,
            name=run.name,
            parent_run_id=run.parent_run_id,
            org_id=run.org_id,
            user_id=run.user_id,
            session_id=run.session_id,
            status=run.status,
            started_at=_time(run.started_at),
            ended_at=_time(run.ended_at),
        )


class RunIn(Strict):
    run_id: IdText | None = None
    name: Short | None = None
    parent_run_id: IdText | None = None
    session_id: IdText | None = None


class RunPatch(Strict):
    status: RunStatus
