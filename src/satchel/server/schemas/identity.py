"""Logins, users, orgs and tokens; runs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from satchel.models import Run
from satchel.server.schemas.common import Strict, plain
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
        return cls.model_validate(plain(user))


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
        return cls.model_validate(plain(org))


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
        return cls.model_validate(plain(token))


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
        return cls.model_validate(plain(run))


class RunIn(Strict):
    run_id: IdText | None = None
    name: Short | None = None
    parent_run_id: IdText | None = None
    session_id: IdText | None = None


class RunPatch(Strict):
    status: RunStatus
