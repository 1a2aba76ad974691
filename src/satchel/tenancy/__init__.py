"""Tenancy: orgs, users, API tokens and sharing grants, in the index's own database.

The server authenticates with a ``Directory`` and shares with ``Grants``; both come from
the store's index::

    from satchel.tenancy import tenancy_of

    tenancy = tenancy_of(store.index)        # a Directory and Grants in one
    actor = tenancy.authenticate(secret)     # None: 401
    page = store.query(ArtifactQuery(reader=actor.reader, limit=50))
"""

from __future__ import annotations

from satchel.index.base import Index
from satchel.tenancy.base import ROLES, Actor, Directory, Grant, Grants, Org, Role, Token, User
from satchel.tenancy.sql import SqlTenancy

__all__ = [
    "ROLES",
    "Actor",
    "Directory",
    "Grant",
    "Grants",
    "Org",
    "Role",
    "SqlTenancy",
    "Token",
    "User",
    "tenancy_of",
]


def tenancy_of(index: Index) -> SqlTenancy:
    """The directory and grants kept in ``index``'s database (SQLite or PostgreSQL).

    Raises:
        ConfigError: the index is not a SQL index.
    """
    return SqlTenancy(index)
