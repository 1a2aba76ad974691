"""The PostgreSQL index: psycopg 3 through SQLAlchemy, a connection pool, READ COMMITTED.

Writers from many processes and machines need no lock of their own: every write is inserts
(conflicts on runs and inline blobs ignored) or single-row updates, which READ COMMITTED
runs without serialization failures. The one thing they must agree on is the order rows
are recorded in; a save transaction first takes the positions lock (``positions``), so
positions become visible in the order they were drawn. Durability is PostgreSQL's: a
``COMMIT`` returns once the WAL is flushed (``synchronous_commit``, on by default).

Text search is ``pg_text`` (tsvector + pg_trgm); planner statistics are autovacuum's job.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import Engine, Insert, Table, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from satchel.errors import ConfigError, MissingDependencyError
from satchel.index.collect import PgCollectionLock
from satchel.index.drive import PG_DRIVEN_MAX
from satchel.index.positions import CLAIM_SQL
from satchel.index.rawwrite import RawWriter
from satchel.index.sql import SqlIndex

__all__ = ["POOL_SIZE", "SCHEMES", "open_postgres_index", "public_url"]

#: URL schemes that name a PostgreSQL index (all through psycopg 3).
SCHEMES: Final = ("postgresql", "postgres", "postgresql+psycopg")
#: Connections kept open per process, and how many more a burst may open.
POOL_SIZE: Final = 5
MAX_OVERFLOW: Final = 10
#: Seconds to wait for the server before an unreachable one is an error.
CONNECT_TIMEOUT_S: Final = 10


def _insert_ignore(table: Table) -> Insert:
    from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: PLC0415

    return pg_insert(table).on_conflict_do_nothing()


def _driver_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"not a PostgreSQL URL: {public_url(url)!r}") from exc
    return parsed.set(drivername="postgresql+psycopg")


def public_url(url: str) -> str:
    """The URL without its password (for messages and ``Index.url``)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
    bare = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return bare.render_as_string(hide_password=False)


def _engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return create_engine(
        url,
        connect_args=connect_args,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        # A server restart or an idle timeout on the way drops pooled connections;
        # check each one at checkout rather than fail the caller's first statement.
        pool_pre_ping=True,
    )


def open_postgres_index(url: str, *, migrate: bool = True) -> SqlIndex:
    """Open (creating and, unless ``migrate`` is False, migrating) the PostgreSQL index at ``url``.

    ``url`` is ``postgresql://user[:password]@host[:port]/database`` (``postgres://`` and
    ``postgresql+psycopg://`` too); libpq parameters go in the query string, e.g.
    ``?options=-csearch_path%3Dteam_a`` to keep the index in its own schema.
    """
    try:
        import psycopg  # noqa: PLC0415
    except ImportError as exc:
        raise MissingDependencyError(
            "a PostgreSQL index needs psycopg 3: pip install 'satchel[postgres]'"
        ) from exc
    engine = _engine(_driver_url(url))
    return SqlIndex(
        engine,
        url=public_url(url),
        insert_ignore=_insert_ignore,
        write_options={},
        raw_writer=RawWriter(
            engine,
            # psycopg opens the transaction itself at the first statement (autocommit off);
            # the first one takes the positions lock.
            begin_sql=CLAIM_SQL,
            placeholder=lambda c: f"%({c})s",
            errors=(psycopg.Error,),
        ),
        collection_lock=PgCollectionLock(engine),
        lexical="satchel.index.pg_text",
        statistics=False,
        driven_max=PG_DRIVEN_MAX,
        migrate=migrate,
    )
