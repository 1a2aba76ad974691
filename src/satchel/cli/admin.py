"""``satchel admin``: orgs, users and API tokens of a store's index.

Thin over ``satchel.tenancy``: each command opens the index the options name (as
``satchel db`` does), calls one method and prints the result. A token's secret is printed
once, alone on standard output (the rest goes to standard error), so that
``TOKEN=$(satchel admin token create ...)`` captures just the secret.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer

from satchel.cli._errors import reported
from satchel.cli._options import IndexOption, StoreOption
from satchel.config import Settings
from satchel.errors import NotFoundError, ValidationError
from satchel.index import open_index
from satchel.models import format_time, utcnow
from satchel.store import index_url_of
from satchel.tenancy import ROLES, Org, SqlTenancy, Token, User, tenancy_of
from satchel.validation import validate_duration

__all__ = ["admin_app"]

admin_app = typer.Typer(
    name="admin",
    help="Orgs, users and API tokens (the server's tenants).",
    no_args_is_help=True,
)
org_app = typer.Typer(name="org", help="Organisations.", no_args_is_help=True)
user_app = typer.Typer(name="user", help="Users: email, org and role.", no_args_is_help=True)
token_app = typer.Typer(name="token", help="API tokens of a user.", no_args_is_help=True)
for _sub in (org_app, user_app, token_app):
    admin_app.add_typer(_sub)


@contextmanager
def _tenancy(store: str | None, index: str | None) -> Iterator[SqlTenancy]:
    """The directory of the index the options name, with errors reported."""
    with reported():
        settings = Settings.load(store=store, index=index)
        opened = open_index(index_url_of(settings))
        try:
            yield tenancy_of(opened)
        finally:
            opened.close()


def _org(tenancy: SqlTenancy, ref: str) -> Org:
    """An org by id, else by name."""
    found = tenancy.get_org(ref) or tenancy.org_by_name(ref)
    if found is None:
        raise NotFoundError(f"no org with id or name {ref!r}")
    return found


def _user(tenancy: SqlTenancy, email: str) -> User:
    found = tenancy.user_by_email(email)
    if found is None:
        raise NotFoundError(f"no user with email {email!r}")
    return found


def _when(value: datetime | None) -> str:
    return "-" if value is None else format_time(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns separated by two spaces, each as wide as its widest cell."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        typer.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# -- orgs -----------------------------------------------------------------------------------


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The org's name (unique).")],
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Create an org; prints its id."""
    with _tenancy(store, index) as tenancy:
        org = tenancy.create_org(name)
        typer.echo(f"org {org.org_id} created: {org.name}")


@org_app.command("list")
def org_list(store: StoreOption = None, index: IndexOption = None) -> None:
    """List every org."""
    with _tenancy(store, index) as tenancy:
        orgs = tenancy.list_orgs()
        users = tenancy.list_users()
        counts = {o.org_id: sum(1 for u in users if u.org_id == o.org_id) for o in orgs}
        _table(
            ("ORG_ID", "NAME", "USERS", "CREATED"),
            [(o.org_id, o.name, str(counts[o.org_id]), _when(o.created_at)) for o in orgs],
        )


# -- users ----------------------------------------------------------------------------------


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The user's email (stored lower-cased).")],
    *,
    org: Annotated[str, typer.Option("--org", help="The user's org, by id or name.")],
    role: Annotated[
        str, typer.Option("--role", help="member (reads and writes) or admin (manages the org).")
    ] = "member",
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="A name to show.")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read a password from the first line of stdin."),
    ] = False,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Create a user in an org; prints its id."""
    with _tenancy(store, index) as tenancy:
        if role not in ROLES:
            raise ValidationError(f"--role is one of {', '.join(ROLES)}, not {role!r}")
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        user = tenancy.create_user(
            email=email,
            org_id=_org(tenancy, org).org_id,
            role=role,  # checked against ROLES above
            display_name=display_name,
            password=password,
        )
        note = " with a password" if user.has_password else ""
        typer.echo(f"user {user.user_id} created{note}: {user.email} ({user.role})")


@user_app.command("list")
def user_list(
    org: Annotated[
        str | None, typer.Option("--org", help="Only this org's users (id or name).")
    ] = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """List users (of one org)."""
    with _tenancy(store, index) as tenancy:
        org_id = None if org is None else _org(tenancy, org).org_id
        names = {o.org_id: o.name for o in tenancy.list_orgs()}
        users = tenancy.list_users(org_id)
        _table(
            ("USER_ID", "EMAIL", "ORG", "ROLE", "PASSWORD", "NAME"),
            [
                (
                    u.user_id,
                    u.email,
                    names.get(u.org_id, u.org_id),
                    u.role,
                    "yes" if u.has_password else "no",
                    u.display_name or "-",
                )
                for u in users
            ],
        )


# -- tokens ---------------------------------------------------------------------------------


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Argument(help="Whose token.")],
    *,
    name: Annotated[str, typer.Option("--name", help="What the token is for.")],
    expires_in: Annotated[
        str | None,
        typer.Option("--expires-in", help="Expire after 30s, 15m, 2h, 30d, 4w... (default never)."),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", help="A job token: it writes into this run only."),
    ] = None,
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Create an API token; prints its secret, once, alone on standard output."""
    with _tenancy(store, index) as tenancy:
        expires_at = None
        if expires_in is not None:
            expires_at = utcnow() + validate_duration(expires_in, what="--expires-in")
        user = _user(tenancy, email)
        token, secret = tenancy.create_token(
            user.user_id, name=name, expires_at=expires_at, run_id=run
        )
        scope = "" if token.run_id is None else f", run {token.run_id} only"
        typer.echo(
            f"token {token.token_id} for {user.email} (expires {_when(token.expires_at)}"
            f"{scope}); the secret below is shown this once:",
            err=True,
        )
        typer.echo(secret)


def _status(token: Token, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "live"


@token_app.command("list")
def token_list(
    email: Annotated[str, typer.Argument(help="Whose tokens.")],
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """List a user's tokens (never their secrets)."""
    with _tenancy(store, index) as tenancy:
        tokens = tenancy.list_tokens(_user(tenancy, email).user_id)
        now = utcnow()
        _table(
            ("TOKEN_ID", "NAME", "STATUS", "RUN", "CREATED", "EXPIRES", "LAST_USED"),
            [
                (
                    t.token_id,
                    t.name,
                    _status(t, now),
                    t.run_id or "-",
                    _when(t.created_at),
                    _when(t.expires_at),
                    _when(t.last_used_at),
                )
                for t in tokens
            ],
        )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `token list`).")],
    store: StoreOption = None,
    index: IndexOption = None,
) -> None:
    """Revoke a token: the next request with it fails."""
    with _tenancy(store, index) as tenancy:
        if not tenancy.revoke_token(token_id):
            raise NotFoundError(f"no live token with id {token_id!r}")
        typer.echo(f"token {token_id} revoked")
