"""Login, the caller, and the admin routes: an org admin manages their own org."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from satchel.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from satchel.models import format_time, utcnow
from satchel.server.deps import ActorDep, IdPath, StateDep
from satchel.server.routes import ERRORS, errors
from satchel.server.schemas.common import Page
from satchel.server.schemas.identity import (
    LoginIn,
    LoginOut,
    MeOut,
    OrgOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
)
from satchel.server.state import ServerState
from satchel.tenancy.base import Actor, User

__all__ = ["router"]

router = APIRouter(tags=["identity"])


@router.post(
    "/auth/login",
    response_model=LoginOut,
    status_code=201,
    responses=errors(401, 413, 422, 429),
)
def login(state: StateDep, body: LoginIn, request: Request) -> LoginOut:
    """Exchange an email and password for a new token (it expires after the login TTL).

    Too many failed logins of one email, or from one address, are ``429 rate_limited``
    for a while (``Retry-After``), before any password is checked.
    """
    keys = state.throttle.keys(body.email, request.client.host if request.client else None)
    state.throttle.check(keys)
    user = state.tenancy.check_password(body.email, body.password)
    if user is None:
        state.throttle.failed(keys)
        raise AuthenticationError("wrong email or password")
    state.throttle.succeeded(body.email)
    expires = utcnow() + timedelta(seconds=state.settings.login_ttl)
    token, secret = state.tenancy.create_token(user.user_id, name="login", expires_at=expires)
    actor = Actor(user_id=user.user_id, org_id=user.org_id, email=user.email, role=user.role)
    return LoginOut(
        token=secret,
        token_id=token.token_id,
        expires_at=format_time(expires),
        user=MeOut.of(actor, user),
    )


@router.get("/me", response_model=MeOut, responses=ERRORS)
def me(state: StateDep, actor: ActorDep) -> MeOut:
    """The caller: user, org, role, and the run of a job token."""
    return MeOut.of(actor, state.tenancy.get_user(actor.user_id))


def _own_org(actor: Actor, org_id: str) -> None:
    if actor.org_id != org_id:
        raise NotFoundError(f"no org with id {org_id!r}")


def _admin_of(actor: Actor, org_id: str) -> None:
    _own_org(actor, org_id)
    if actor.role != "admin" or actor.run_id is not None:
        raise PermissionDeniedError("only an admin of the org may do this")


@router.get("/orgs/{org_id}", response_model=OrgOut, responses=ERRORS)
def get_org(state: StateDep, actor: ActorDep, org_id: IdPath) -> OrgOut:
    """The caller's own org."""
    _own_org(actor, org_id)
    org = state.tenancy.get_org(org_id)
    if org is None:
        raise NotFoundError(f"no org with id {org_id!r}")
    return OrgOut.of(org)


@router.get("/orgs/{org_id}/users", response_model=Page[UserOut], responses=ERRORS)
def list_users(state: StateDep, actor: ActorDep, org_id: IdPath) -> Page[UserOut]:
    """The users of the caller's org (admins)."""
    _admin_of(actor, org_id)
    return Page[UserOut](items=[UserOut.of(u) for u in state.tenancy.list_users(org_id)])


@router.post("/orgs/{org_id}/users", response_model=UserOut, status_code=201, responses=ERRORS)
def create_user(state: StateDep, actor: ActorDep, org_id: IdPath, body: UserCreate) -> UserOut:
    """Add a user to the caller's org (admins); a taken email is 409."""
    _admin_of(actor, org_id)
    user = state.tenancy.create_user(
        email=body.email,
        org_id=org_id,
        role=body.role,
        display_name=body.display_name,
        password=body.password,
    )
    return UserOut.of(user)


def _token_user(state: ServerState, actor: Actor, user_id: str | None) -> User:
    """The user whose tokens the caller asks about: themselves, or (admins) their org's."""
    if actor.run_id is not None:
        raise PermissionDeniedError("a job token cannot manage tokens")
    target = user_id or actor.user_id
    user = state.tenancy.get_user(target)
    if user is None or user.org_id != actor.org_id:
        raise NotFoundError(f"no user with id {target!r}")
    if user.user_id != actor.user_id and actor.role != "admin":
        raise PermissionDeniedError("only an admin manages other users' tokens")
    return user


@router.get("/tokens", response_model=Page[TokenOut], responses=ERRORS)
def list_tokens(
    state: StateDep,
    actor: ActorDep,
    user_id: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z_-]{1,64}$")] = None,
) -> Page[TokenOut]:
    """A user's tokens, newest first, revoked ones included (never their secrets)."""
    user = _token_user(state, actor, user_id)
    return Page[TokenOut](items=[TokenOut.of(t) for t in state.tenancy.list_tokens(user.user_id)])


@router.post("/tokens", response_model=TokenCreated, status_code=201, responses=ERRORS)
def create_token(state: StateDep, actor: ActorDep, body: TokenCreate) -> TokenCreated:
    """A new API token (``run_id``: a job token for that run); its secret is shown once."""
    user = _token_user(state, actor, body.user_id)
    expires = None
    if body.expires_in is not None:
        expires = utcnow() + timedelta(seconds=body.expires_in)
    token, secret = state.tenancy.create_token(
        user.user_id, name=body.name, expires_at=expires, run_id=body.run_id
    )
    return TokenCreated(**TokenOut.of(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, responses=ERRORS)
def revoke_token(state: StateDep, actor: ActorDep, token_id: IdPath) -> Response:
    """Revoke a token (effective from the next request)."""
    token = state.tenancy.get_token(token_id)
    if token is None:
        raise NotFoundError(f"no token with id {token_id!r}")
    try:
        _token_user(state, actor, token.user_id)
    except NotFoundError as exc:
        raise NotFoundError(f"no token with id {token_id!r}") from exc
    state.tenancy.revoke_token(token_id)
    return Response(status_code=204)
