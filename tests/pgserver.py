"""The machine's PostgreSQL for tests: a schema of its own per test.

``SATCHEL_TEST_POSTGRES`` names the server and database (default: the local ``test``
database, trust auth). A server that does not answer fails every test that needs it, never
skips it: CI must not go green without PostgreSQL. Each index lives in a schema of its own
(``search_path`` set through the URL) named at random, so runs in parallel and reruns never
meet. Migrating a schema takes about half a second of DDL, so a test that only needs an
empty index gets a migrated schema emptied after the previous test
(``index_url`` / ``release``); migration tests take an unmigrated one (``fresh_schema``).
Every schema is dropped at the end of the session.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

SERVER = os.environ.get("SATCHEL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

_created: list[str] = []
_in_use: list[str] = []
_ready: list[str] = []


@functools.cache
def admin() -> sa.Engine:
    """An autocommit engine on the test database, the extension created once."""
    url = sa.make_url(SERVER).set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
            ).first()
            if exists is None:
                # Another test process may create it at the same moment.
                with contextlib.suppress(IntegrityError, ProgrammingError):
                    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL at {SERVER} is needed by the tests and does not answer: {exc}")
    return engine


def url_for(schema: str) -> str:
    """The index URL of one schema (``public`` stays on the path for pg_trgm)."""
    return f"{SERVER}?options={quote(f'-csearch_path={schema},public', safe='')}"


def _new_schema() -> str:
    name = f"satchel_test_{uuid.uuid4().hex[:16]}"
    with admin().connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    _created.append(name)
    return name


def _drop(name: str) -> None:
    with admin().connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    _created.remove(name)


def index_url() -> str:
    """The URL of an empty, migrated index in a schema of its own until ``release``."""
    if _ready:
        name = _ready.pop()
    else:
        from satchel.index import open_index  # noqa: PLC0415

        name = _new_schema()
        open_index(url_for(name)).close()
    _in_use.append(name)
    return url_for(name)


def release() -> None:
    """Empty the schemas ``index_url`` handed out (their indexes closed) for the next test."""
    while _in_use:
        name = _in_use.pop()
        with admin().connect() as conn, conn.begin():
            tables = (
                conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :s"
                        " AND tablename <> 'alembic_version'"
                    ),
                    {"s": name},
                )
                .scalars()
                .all()
            )
            # DELETE, not TRUNCATE: on tables this small it skips new files and their fsyncs.
            # Users before the orgs they belong to (that key does not cascade).
            for table in sorted(tables, key=lambda t: t != "users"):
                conn.execute(sa.text(f'DELETE FROM "{name}"."{table}"'))
        _ready.append(name)


def drop_created() -> None:
    """Drop every schema made in this process (their indexes closed)."""
    _in_use.clear()
    _ready.clear()
    for name in list(_created):
        _drop(name)


@contextmanager
def fresh_schema() -> Iterator[str]:
    """An empty, unmigrated schema's index URL for the ``with`` block; dropped after it."""
    name = _new_schema()
    try:
        yield url_for(name)
    finally:
        _drop(name)
