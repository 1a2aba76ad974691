"""Cookie sessions and CSRF protection for the portal's pages.

A session is a login token (``satchel.tenancy``), the same kind an API client gets from
``POST /api/v1/auth/login``: logging out revokes it, and an admin revoking it ends the
session on the next page. The cookie holds ``<token id>.<secret>`` (HttpOnly, SameSite=Lax,
Secure over HTTPS), so that logging out knows which token to revoke without a lookup by
secret; the id is checked against the secret's owner before it is revoked.

Every form that changes something (log in, log out) carries a CSRF token the server checks:
for a session, an HMAC of its token id under the server's secret (stateless, so any server
process accepts it); before login, a random value that must match the ``satchel_csrf``
cookie (double submit), so that a third-party page cannot log a browser into its account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from satchel.server.state import ServerState
from satchel.tenancy.base import Actor

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "LoginRequiredError",
    "Session",
    "check_csrf",
    "clear_session",
    "login_csrf",
    "read_session",
    "safe_next",
    "session_csrf",
    "set_login_csrf",
    "set_session",
]

SESSION_COOKIE: Final = "satchel_session"
CSRF_COOKIE: Final = "satchel_csrf"
_CSRF_PURPOSE: Final = b"satchel-portal-csrf-v1"
_MAX_COOKIE: Final = 512
_LOGIN_CSRF_LENGTH: Final = 43  # secrets.token_urlsafe(32)


class LoginRequiredError(Exception):
    """The page needs a session: the answer is a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """The logged-in caller and their session's token id."""

    actor: Actor
    token_id: str


def _secure(request: Request) -> bool:
    state: ServerState = request.app.state.satchel
    public = state.settings.public_url
    if public is not None:
        return public.startswith("https://")
    return request.url.scheme == "https"


def read_session(request: Request) -> Session | None:
    """The session the request's cookie stands for; None without a live one."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or len(raw) > _MAX_COOKIE or "." not in raw:
        return None
    token_id, secret = raw.split(".", 1)
    state: ServerState = request.app.state.satchel
    actor = state.tenancy.authenticate(secret)
    if actor is None or actor.run_id is not None:
        return None  # a job token never opens the portal
    return Session(actor=actor, token_id=token_id)


def set_session(request: Request, response: Response, token_id: str, secret: str) -> None:
    """Put a new session's cookie on ``response``."""
    state: ServerState = request.app.state.satchel
    response.set_cookie(
        SESSION_COOKIE,
        f"{token_id}.{secret}",
        max_age=state.settings.login_ttl,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(CSRF_COOKIE, path="/")


def clear_session(response: Response) -> None:
    """Remove the session cookie from the browser."""
    response.delete_cookie(SESSION_COOKIE, path="/")


def session_csrf(request: Request, session: Session) -> str:
    """The CSRF token of a session's forms."""
    state: ServerState = request.app.state.satchel
    mac = hmac.new(state.settings.secret, _CSRF_PURPOSE + session.token_id.encode(), "sha256")
    return mac.hexdigest()


def login_csrf(request: Request) -> str:
    """The CSRF token of the login form: the browser's ``satchel_csrf`` cookie, or a new one."""
    value = request.cookies.get(CSRF_COOKIE)
    if not value or len(value) != _LOGIN_CSRF_LENGTH:
        value = secrets.token_urlsafe(32)
    return value


def set_login_csrf(request: Request, response: Response, value: str) -> None:
    """Set the login form's CSRF token as a cookie too (double submit)."""
    response.set_cookie(
        CSRF_COOKIE,
        value,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )


def check_csrf(expected: str | None, given: str | None) -> bool:
    """Whether a form's CSRF token is the expected one (in constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(
        hashlib.sha256(expected.encode()).digest(), hashlib.sha256(given.encode()).digest()
    )


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only, never another origin."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/artifacts"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/artifacts"
    return value
