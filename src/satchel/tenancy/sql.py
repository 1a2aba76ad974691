"""``Directory`` and ``Grants`` over the index's SQLAlchemy engine (SQLite and PostgreSQL).

The tables live in the index's database (migration 0006), so a grant written here is seen
by the very next ``ArtifactQuery(reader=...)``: revoking takes effect on the next request.
Writes run in the index's own write transactions; a unique key that is already taken
becomes ``ConflictError``, never a database error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection, Row, Table, and_, exists, literal, select, update
from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

from satchel.errors import ConfigError, ConflictError, NotFoundError, ValidationError
from satchel.index.base import Index
from satchel.index.rows import storable
from satchel.index.schema import artifacts, grants, orgs, tokens, users
from satchel.index.sql import SqlIndex
from satchel.models import format_time, new_id, parse_time, utcnow
from satchel.tenancy.base import ROLES, Actor, Grant, Org, Role, Token, User
from satchel.tenancy.secrets import (
    TOKEN_PREFIX,
    hash_password,
    new_token_secret,
    token_digest,
    verify_password,
)
from satchel.validation import validate_token

__all__ = ["LAST_USED_EVERY", "SqlTenancy", "normalise_email"]

#: ``last_used_at`` is written at most this often per token (a write per request is too many).
LAST_USED_EVERY: Final = timedelta(minutes=1)
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")
_MAX_EMAIL: Final = 254
_MAX_SECRET: Final = 256
_CHUNK: Final = 500


def normalise_email(email: str) -> str:
    """An email as stored and compared: lower case; refused unless ``local@domain``."""
    if not isinstance(email, str) or len(email) > _MAX_EMAIL or not _EMAIL.fullmatch(email):
        raise ValidationError(f"not an email address: {email!r}")
    validate_token(email, what="email")
    return email.lower()


def _time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def _org(row: Row[Any]) -> Org:
    return Org(org_id=row.org_id, name=row.name, created_at=parse_time(row.created_at))


def _user(row: Row[Any]) -> User:
    return User(
        user_id=row.user_id,
        email=row.email,
        org_id=row.org_id,
        role=row.role,
        display_name=row.display_name,
        has_password=row.password_hash is not None,
        created_at=parse_time(row.created_at),
    )


def _token(row: Row[Any]) -> Token:
    return Token(
        token_id=row.token_id,
        user_id=row.user_id,
        name=row.name,
        run_id=row.run_id,
        created_at=parse_time(row.created_at),
        expires_at=_time(row.expires_at),
        last_used_at=_time(row.last_used_at),
        revoked_at=_time(row.revoked_at),
    )


def _grant(row: Row[Any]) -> Grant:
    return Grant(
        grant_id=row.grant_id,
        artifact_id=row.artifact_id,
        recipient_email=row.recipient_email,
        recipient_org_id=row.recipient_org_id,
        granted_by=row.granted_by,
        created_at=parse_time(row.created_at),
    )


class SqlTenancy:
    """Both ``Directory`` and ``Grants``, in the database of a ``SqlIndex``."""

    def __init__(self, index: Index) -> None:
        if not isinstance(index, SqlIndex):
            raise ConfigError(f"the index at {index.url} keeps no orgs, users or grants")
        self._index = index

    # -- orgs ---------------------------------------------------------------------------

    def create_org(self, name: str) -> Org:
        validate_token(name, what="an org name")
        org = Org(org_id=new_id(), name=name, created_at=utcnow())
        with self._index.write_transaction() as conn:
            self._insert_new(
                conn,
                orgs,
                {"org_id": org.org_id, "name": name, "created_at": format_time(org.created_at)},
                taken=orgs.c.name == name,
                duplicate=f"an org named {name!r} exists already",
            )
        return org

    def get_org(self, org_id: str) -> Org | None:
        if not storable(org_id):
            return None
        row = self._first(select(orgs).where(orgs.c.org_id == org_id))
        return None if row is None else _org(row)

    def org_by_name(self, name: str) -> Org | None:
        """The org with this exact name, or None."""
        if not storable(name):
            return None
        row = self._first(select(orgs).where(orgs.c.name == name))
        return None if row is None else _org(row)

    def list_orgs(self) -> list[Org]:
        with self._index.read_connection() as conn:
            rows = conn.execute(select(orgs).order_by(orgs.c.name)).all()
        return [_org(r) for r in rows]

    # -- users --------------------------------------------------------------------------

    def create_user(
        self,
        *,
        email: str,
        org_id: str,
        role: Role = "member",
        display_name: str | None = None,
        password: str | None = None,
    ) -> User:
        email = normalise_email(email)
        if role not in ROLES:
            raise ValidationError(f"a role is one of {', '.join(ROLES)}, not {role!r}")
        if display_name is not None:
            validate_token(display_name, what="a display name")
        # Hashing takes a tenth of a second: before the transaction, not inside it.
        password_hash = None if password is None else hash_password(password)
        user = User(
            user_id=new_id(),
            email=email,
            org_id=org_id,
            role=role,
            display_name=display_name,
            has_password=password_hash is not None,
            created_at=utcnow(),
        )
        row = {
            "user_id": user.user_id,
            "email": email,
            "org_id": org_id,
            "role": role,
            "display_name": display_name,
            "password_hash": password_hash,
            "created_at": format_time(user.created_at),
        }
        with self._index.write_transaction() as conn:
            _require(conn, orgs.c.org_id, org_id, "org")
            self._insert_new(
                conn,
                users,
                row,
                taken=users.c.email == email,
                duplicate=f"a user with email {email!r} exists already",
            )
        return user

    def get_user(self, user_id: str) -> User | None:
        if not storable(user_id):
            return None
        row = self._first(select(users).where(users.c.user_id == user_id))
        return None if row is None else _user(row)

    def user_by_email(self, email: str) -> User | None:
        if not storable(email):
            return None
        row = self._first(select(users).where(users.c.email == email.lower()))
        return None if row is None else _user(row)

    def list_users(self, org_id: str | None = None) -> list[User]:
        statement = select(users).order_by(users.c.email)
        if org_id is not None:
            if not storable(org_id):
                return []
            statement = statement.where(users.c.org_id == org_id)
        with self._index.read_connection() as conn:
            rows = conn.execute(statement).all()
        return [_user(r) for r in rows]

    def set_password(self, user_id: str, password: str) -> None:
        stored = hash_password(password)
        if not storable(user_id):
            raise NotFoundError(f"no user with id {user_id!r}")
        with self._index.write_transaction() as conn:
            done = conn.execute(
                update(users).where(users.c.user_id == user_id).values(password_hash=stored)
            )
            if not done.rowcount:
                raise NotFoundError(f"no user with id {user_id!r}")

    def check_password(self, email: str, password: str) -> User | None:
        row = None
        if storable(email):
            row = self._first(select(users).where(users.c.email == email.lower()))
        # The same scrypt work with no such user or no password (``verify_password``).
        if not verify_password(password, None if row is None else row.password_hash):
            return None
        assert row is not None
        return _user(row)

    # -- tokens -------------------------------------------------------------------------

    def create_token(
        self,
        user_id: str,
        *,
        name: str,
        expires_at: datetime | None = None,
        run_id: str | None = None,
    ) -> tuple[Token, str]:
        validate_token(name, what="a token name")
        if run_id is not None:
            validate_token(run_id, what="run_id")
        now = utcnow()
        if expires_at is not None and format_time(expires_at) <= format_time(now):
            raise ValidationError("a token must expire in the future")
        secret = new_token_secret()
        token = Token(
            token_id=new_id(),
            user_id=user_id,
            name=name,
            run_id=run_id,
            created_at=now,
            expires_at=None if expires_at is None else parse_time(format_time(expires_at)),
            last_used_at=None,
            revoked_at=None,
        )
        with self._index.write_transaction() as conn:
            _require(conn, users.c.user_id, user_id, "user")
            conn.execute(
                tokens.insert().values(
                    token_id=token.token_id,
                    user_id=user_id,
                    secret_sha256=token_digest(secret),
                    name=name,
                    run_id=run_id,
                    created_at=format_time(now),
                    expires_at=None if expires_at is None else format_time(expires_at),
                )
            )
        return token, secret

    def get_token(self, token_id: str) -> Token | None:
        """One token's record, or None."""
        if not storable(token_id):
            return None
        row = self._first(select(tokens).where(tokens.c.token_id == token_id))
        return None if row is None else _token(row)

    def list_tokens(self, user_id: str) -> list[Token]:
        if not storable(user_id):
            return []
        with self._index.read_connection() as conn:
            rows = conn.execute(
                select(tokens)
                .where(tokens.c.user_id == user_id)
                .order_by(tokens.c.created_at.desc(), tokens.c.token_id.desc())
            ).all()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> bool:
        if not storable(token_id):
            return False
        with self._index.write_transaction() as conn:
            done = conn.execute(
                update(tokens)
                .where(tokens.c.token_id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=format_time(utcnow()))
            )
            return bool(done.rowcount)

    def authenticate(self, secret: str) -> Actor | None:
        if (
            not isinstance(secret, str)
            or not secret.startswith(TOKEN_PREFIX)
            or len(secret) > _MAX_SECRET
        ):
            return None
        now = format_time(utcnow())
        row = self._first(
            select(
                tokens.c.token_id,
                tokens.c.run_id,
                tokens.c.expires_at,
                tokens.c.revoked_at,
                tokens.c.last_used_at,
                users.c.user_id,
                users.c.org_id,
                users.c.email,
                users.c.role,
            )
            .join(users, users.c.user_id == tokens.c.user_id)
            .where(tokens.c.secret_sha256 == token_digest(secret))
        )
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        stale = format_time(utcnow() - LAST_USED_EVERY)
        if row.last_used_at is None or row.last_used_at <= stale:
            with self._index.write_transaction() as conn:
                conn.execute(
                    update(tokens)
                    .where(
                        tokens.c.token_id == row.token_id,
                        (tokens.c.last_used_at.is_(None)) | (tokens.c.last_used_at <= stale),
                    )
                    .values(last_used_at=now)
                )
        return Actor(
            user_id=row.user_id,
            org_id=row.org_id,
            email=row.email,
            role=row.role,
            run_id=row.run_id,
        )

    def is_empty(self) -> bool:
        with self._index.read_connection() as conn:
            found = conn.execute(
                select(exists(select(orgs.c.org_id)) | exists(select(users.c.user_id)))
            ).scalar_one()
        return not found

    # -- grants -------------------------------------------------------------------------

    def add_grant(
        self,
        artifact_id: str,
        *,
        email: str | None = None,
        org_id: str | None = None,
        granted_by: str,
    ) -> Grant:
        if (email is None) == (org_id is None):
            raise ValidationError("a grant names exactly one recipient: an email or an org id")
        if email is not None:
            email = normalise_email(email)
        validate_token(granted_by, what="granted_by")
        grant = Grant(
            grant_id=new_id(),
            artifact_id=artifact_id,
            recipient_email=email,
            recipient_org_id=org_id,
            granted_by=granted_by,
            created_at=utcnow(),
        )
        who = f"email {email!r}" if email is not None else f"org {org_id!r}"
        row = {
            "grant_id": grant.grant_id,
            "artifact_id": artifact_id,
            "recipient_email": email,
            "recipient_org_id": org_id,
            "granted_by": granted_by,
            "created_at": format_time(grant.created_at),
        }
        with self._index.write_transaction() as conn:
            _require(conn, artifacts.c.artifact_id, artifact_id, "artifact")
            if org_id is not None:
                _require(conn, orgs.c.org_id, org_id, "org")
                same = grants.c.recipient_org_id == org_id
            else:
                same = grants.c.recipient_email == email
            self._insert_new(
                conn,
                grants,
                row,
                taken=and_(grants.c.artifact_id == artifact_id, same),
                duplicate=f"artifact {artifact_id!r} is already shared with {who}",
            )
        return grant

    def list_grants(self, artifact_id: str) -> list[Grant]:
        return self.grants_of([artifact_id])[artifact_id]

    def grants_of(self, artifact_ids: Sequence[str]) -> dict[str, list[Grant]]:
        found: dict[str, list[Grant]] = {aid: [] for aid in artifact_ids}
        wanted = [aid for aid in found if storable(aid)]
        with self._index.read_connection() as conn:
            for start in range(0, len(wanted), _CHUNK):
                rows = conn.execute(
                    select(grants)
                    .where(grants.c.artifact_id.in_(wanted[start : start + _CHUNK]))
                    .order_by(grants.c.created_at, grants.c.grant_id)
                )
                for row in rows:
                    found[row.artifact_id].append(_grant(row))
        return found

    def get_grant(self, grant_id: str) -> Grant | None:
        if not storable(grant_id):
            return None
        row = self._first(select(grants).where(grants.c.grant_id == grant_id))
        return None if row is None else _grant(row)

    def revoke_grant(self, grant_id: str) -> bool:
        if not storable(grant_id):
            return False
        with self._index.write_transaction() as conn:
            done = conn.execute(grants.delete().where(grants.c.grant_id == grant_id))
            return bool(done.rowcount)

    # -- helpers ------------------------------------------------------------------------

    def _first(self, statement: Any) -> Row[Any] | None:
        with self._index.read_connection() as conn:
            return conn.execute(statement).first()

    @staticmethod
    def _insert_new(
        conn: Connection, table: Table, row: dict[str, Any], *, taken: Any, duplicate: str
    ) -> None:
        """Insert ``row`` unless a row meeting ``taken`` exists: ``ConflictError``, also
        when another process inserts it between the check and the INSERT (its unique key)."""
        if conn.execute(select(literal(1)).select_from(table).where(taken)).first() is not None:
            raise ConflictError(duplicate)
        try:
            conn.execute(table.insert().values(**row))
        except DatabaseIntegrityError as exc:
            raise ConflictError(duplicate) from exc


def _require(conn: Connection, column: Any, value: str, what: str) -> None:
    """``NotFoundError`` unless a row has ``column = value``."""
    if not storable(value) or conn.execute(select(column).where(column == value)).first() is None:
        raise NotFoundError(f"no {what} with id {value!r}")
