"""The tenancy seam: orgs, users, tokens and grants as value types, and two Protocols.

``Directory`` holds who exists (orgs, users, passwords, API tokens) and turns a token
secret into an ``Actor``; ``Grants`` holds who else may read an artifact. One SQL
implementation serves both (``satchel.tenancy.sql``), in the index's own database, so
that an ``ArtifactQuery(reader=...)`` filters on grants in the same statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from satchel.index.base import Reader

__all__ = ["ROLES", "Actor", "Directory", "Grant", "Grants", "Org", "Role", "Token", "User"]

Role = Literal["member", "admin"]
ROLES: tuple[Role, ...] = ("member", "admin")


@dataclass(frozen=True, slots=True, kw_only=True)
class Org:
    """An organisation: users belong to one; artifacts carry their creator's org."""

    org_id: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A person (or a service) with an email, one org and a role in it.

    The password hash never leaves the directory; ``has_password`` says whether one is set.
    """

    user_id: str
    email: str
    org_id: str
    role: Role
    display_name: str | None
    has_password: bool
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """An API token's record; the secret itself is shown once, at creation, and only its
    SHA-256 is stored. ``run_id`` makes it a job token that writes into that run only."""

    token_id: str
    user_id: str
    name: str
    run_id: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """Read access to one artifact for one email or one org (exactly one of the two)."""

    grant_id: str
    artifact_id: str
    recipient_email: str | None
    recipient_org_id: str | None
    granted_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who is calling: an authenticated user, perhaps through a job token for one run."""

    user_id: str
    org_id: str
    email: str
    role: Role
    #: Set for a job token: the caller may write into this run only.
    run_id: str | None = None

    @property
    def reader(self) -> Reader:
        """The reader to put in an ``ArtifactQuery`` (or pass to ``Index.get``)."""
        return Reader(user_id=self.user_id, org_id=self.org_id, email=self.email)


@runtime_checkable
class Directory(Protocol):
    """Orgs, users, passwords and API tokens."""

    def create_org(self, name: str) -> Org:
        """A new org; a name already taken is a ``ConflictError``."""

    def get_org(self, org_id: str) -> Org | None:
        """One org, or None."""

    def list_orgs(self) -> list[Org]:
        """Every org, by name."""

    def create_user(
        self,
        *,
        email: str,
        org_id: str,
        role: Role = "member",
        display_name: str | None = None,
        password: str | None = None,
    ) -> User:
        """A new user (email stored lower-cased); a taken email is a ``ConflictError``,
        an unknown org a ``NotFoundError``."""

    def get_user(self, user_id: str) -> User | None:
        """One user, or None."""

    def user_by_email(self, email: str) -> User | None:
        """The user with this email (any case), or None."""

    def list_users(self, org_id: str | None = None) -> list[User]:
        """Every user (of one org), by email."""

    def set_password(self, user_id: str, password: str) -> None:
        """Set or replace a user's password (hashed with scrypt and a salt of its own)."""

    def check_password(self, email: str, password: str) -> User | None:
        """The user when the password is theirs, else None (same work either way)."""

    def create_token(
        self,
        user_id: str,
        *,
        name: str,
        expires_at: datetime | None = None,
        run_id: str | None = None,
    ) -> tuple[Token, str]:
        """A new API token and its secret: shown this once, stored only as SHA-256."""

    def list_tokens(self, user_id: str) -> list[Token]:
        """A user's tokens, newest first, revoked ones included."""

    def revoke_token(self, token_id: str) -> bool:
        """Revoke a token from the next request on; False when no such live token."""

    def authenticate(self, secret: str) -> Actor | None:
        """The actor a token secret stands for; None when unknown, revoked or expired.

        Records the token's ``last_used_at`` (at most once a minute).
        """

    def is_empty(self) -> bool:
        """Whether no org and no user exist yet (a server's first start)."""


@runtime_checkable
class Grants(Protocol):
    """Who besides the creator's org may read an artifact."""

    def add_grant(
        self,
        artifact_id: str,
        *,
        email: str | None = None,
        org_id: str | None = None,
        granted_by: str,
    ) -> Grant:
        """Grant read access to one email or one org.

        Raises:
            ValidationError: both or neither recipient given, or a malformed one.
            NotFoundError: no such artifact, or no such org.
            ConflictError: the same recipient already has a grant on the artifact.
        """

    def list_grants(self, artifact_id: str) -> list[Grant]:
        """The grants of one artifact, oldest first."""

    def grants_of(self, artifact_ids: Sequence[str]) -> dict[str, list[Grant]]:
        """The grants of several artifacts at once (every id a key, oldest first)."""

    def get_grant(self, grant_id: str) -> Grant | None:
        """One grant, or None."""

    def revoke_grant(self, grant_id: str) -> bool:
        """Remove a grant (effective for the next query); False when no such grant."""
